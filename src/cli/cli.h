/* cli: the evkit command line. Exit status: 0 success, 1 failure, 2 usage. */
#ifndef EVKIT_CLI_H
#define EVKIT_CLI_H

int cli_main(int argc, char **argv);

#endif
