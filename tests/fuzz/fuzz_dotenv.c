/* .env files and $VAR expansion: dotenv_parse as the manifest reads an
 * app's .env, then env_expand of a manifest value against what it gave.
 * Parts: the .env text, a value with $VARs. */
#include "fuzz.h"
#include "manifest/manifest_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_parts p;
    fz_split(data, size, &p);
    diags_t d;
    diags_init(&d);
    json_t *env = json_object();
    dotenv_parse(p.p[0], ".env", env, &d);
    const char *k;
    json_t *v;
    json_object_foreach(env, k, v) {
        if (!json_is_string(v)) abort();
    }
    json_t *missing = json_object();
    char *x = env_expand(p.n > 1 ? p.p[1] : p.p[0], env, missing, &d, NULL);
    free(x);
    env_missing_finish(missing, &d);
    json_decref(missing);
    json_decref(env);
    FILE *null = fopen("/dev/null", "w");
    diags_print(&d, null);
    fclose(null);
    diags_free(&d);
    fz_parts_free(&p);
    return 0;
}
