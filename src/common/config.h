/* config.h -- schema-driven configuration: YAML file, then environment.
 *
 * Each component declares its keys once in an il_cfg_field table (key,
 * environment override, type, default, one-line doc) and gets a filled C
 * struct back.  The same table prints `--help-config` and is what README
 * documents, so the code and the docs cannot drift apart.
 *
 * Precedence: default < file < environment < command-line flags (flags are
 * applied by the caller after il_config_load).  Keys are case-sensitive, as
 * in upstream's yaml.v2.  Dotted keys ("TLS.CertFile") address nested maps.
 * Unknown keys are logged as warnings, never fatal, so upstream config files
 * with keys we do not use still load. */
#ifndef IL_CONFIG_H
#define IL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

typedef enum {
    IL_CFG_STRING,   /* char *; YAML string or number ("3000" and 3000 both work) */
    IL_CFG_BOOL,     /* bool; YAML bool, or env "true"/"false"/"1"/"0" */
    IL_CFG_INT,      /* int64_t */
    IL_CFG_SIZE,     /* int64_t bytes; a number or a quantity string ("16Mi") */
    IL_CFG_STRLIST,  /* char ** NULL-terminated; YAML sequence of strings */
    IL_CFG_JSON,     /* json_t *; any YAML value as is (lists of mappings), the
                      * component validates it; env/flags give JSON text */
} il_cfg_type;

typedef struct il_cfg_field {
    const char *key;         /* "InterlinkAddress", "TLS.CertFile" */
    const char *env;         /* "INTERLINKURL" or NULL */
    il_cfg_type type;
    size_t offset;           /* offsetof(struct, member) */
    const char *def;         /* default in string form, NULL = unset/false/0 */
    const char *doc;         /* one line for --help-config and README */
} il_cfg_field;

/* Fill *target from defaults, then the YAML file at path (NULL = no file),
 * then the environment.  Returns 0, or -1 with a message naming the file,
 * the key and the problem in err. */
int il_config_load(const char *path, const il_cfg_field *fields, size_t nfields,
                   void *target, char *err, size_t errlen);
/* Release the strings and lists il_config_load allocated in *target. */
void il_config_free(const il_cfg_field *fields, size_t nfields, void *target);
/* Set one field from its string form (used for command-line flags and the
 * environment): bools take true/false/1/0 (any case), sizes quantities,
 * lists comma-separated items.  Frees the previous value, so target must
 * have been filled by il_config_load (or zeroed).  A null value in the YAML
 * file leaves the default in place. */
int il_config_set(const il_cfg_field *field, void *target, const char *value,
                  char *err, size_t errlen);
/* A YAML scalar as text, as yaml.v2 reads one into a string: "3000" and
 * 3000 both give "3000", true gives "true".  NULL (nothing allocated) for a
 * null, an array or an object; otherwise the caller frees the result. */
char *il_config_scalar_text(const json_t *v);
/* Print the table: key, env, type, default, doc. */
void il_config_print_help(FILE *out, const il_cfg_field *fields, size_t nfields);

#endif
