/* cmd_keys: the RSA keys that sign webhook deliveries (delivery/sigkeys.h):
 * list them, or rotate (key 1 retired, key 2 becomes key 1, a new key 2).
 * A running daemon signs with the new pair from its next delivery on. */
#include "cli/cli_int.h"

#include <stdio.h>
#include <string.h>

#include "delivery/sigkeys.h"

static const char KEYS_USAGE[] =
    "usage: evkit keys [list] | rotate\n"
    "\n"
    "The two RSA keys that sign webhook deliveries (x-adobe-digital-signature-1 and -2),\n"
    "kept in <data>/signing-keys/ and made on first use. rotate retires key 1, makes key 2\n"
    "key 1 and a new key 2; retired public keys stay served at their paths.\n";

static void print_keys(const cli_ctx *ctx, const json_t *list)
{
    if (ctx->json) {
        cli_print_json(list);
        return;
    }
    size_t i;
    json_t *k;
    printf("%-5s %-36s %-26s %s\n", "SLOT", "ID", "CREATED", "PUBLIC KEY PATH");
    json_array_foreach(json_object_get(list, "current"), i, k) {
        printf("%-5lld %-36s %-26s %s\n", (long long)json_integer_value(json_object_get(k, "slot")),
               json_string_value(json_object_get(k, "id")),
               json_string_value(json_object_get(k, "created")),
               json_string_value(json_object_get(k, "path")));
    }
    json_array_foreach(json_object_get(list, "retired"), i, k)
        printf("%-5s %-36s (retired: its public key is still served)\n", "-", json_string_value(k));
}

static int keys_run(cli_ctx *ctx, const cli_args *a)
{
    const char *sub = a->n > 0 ? a->v[0] : "list";
    if (a->n > 1 || (strcmp(sub, "list") && strcmp(sub, "rotate"))) return cli_usage(KEYS_USAGE);
    err_t err;
    if (!strcmp(sub, "rotate") && sigkeys_rotate(ctx->data_dir, &err) < 0)
        return cli_fail("cannot rotate the signing keys: %s", err.msg);
    sigkeys_t *k = NULL;
    if (sigkeys_open(ctx->data_dir, &k, &err) < 0)
        return cli_fail("cannot open the signing keys: %s", err.msg);
    json_t *list = sigkeys_list(k, &err);
    sigkeys_free(k);
    if (!list) return cli_fail("cannot list the signing keys: %s", err.msg);
    print_keys(ctx, list);
    json_decref(list);
    return EXIT_OK;
}

const cli_command cli_cmd_keys = {
    .name = "keys",
    .usage = KEYS_USAGE,
    .operands = true,
    .run = keys_run,
};
