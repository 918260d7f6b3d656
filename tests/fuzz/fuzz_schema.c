/* JSON Schema (draft-07) keywords: any schema text compiled (refused with a
 * message, or compiled), then any instance validated with and without the
 * error list; both answers must agree, and a valid instance has no
 * errors. Parts: the schema, the instance. */
#include "fuzz.h"
#include "schema/schema.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_OFF);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_parts p;
    fz_split(data, size, &p);
    err_t err;
    schema_t *s = schema_compile_text(p.p[0], p.len[0], &err);
    if (s && p.n > 1) {
        json_t *v = json_loadb(p.p[1], p.len[1], JSON_DECODE_ANY, NULL);
        if (v) {
            schema_errors_t errs = {0};
            bool all = schema_validate(s, v, &errs);
            bool first = schema_validate(s, v, NULL);
            if (all != first || all != (errs.count == 0)) abort();
            for (size_t i = 0; i < errs.count; i++)
                if (!errs.items[i].path || !errs.items[i].keyword || !errs.items[i].message) abort();
            schema_errors_free(&errs);
            if (!schema_json_equal(v, v)) abort();
            json_decref(v);
        }
    }
    schema_free(s);
    fz_parts_free(&p);
    return 0;
}
