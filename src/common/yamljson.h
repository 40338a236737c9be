/* yamljson.h -- YAML documents to jansson values (libyaml event parser).
 *
 * Mappings become objects, sequences arrays.  Plain scalars are resolved as
 * Kubernetes' YAML reader does: null/~/empty -> null, true/false -> bool,
 * integers and floats -> numbers, everything else (and every quoted scalar)
 * -> string.  Anchors and aliases are supported. */
#ifndef IL_YAMLJSON_H
#define IL_YAMLJSON_H

#include <jansson.h>
#include <stddef.h>

/* Every document of the stream, in order, as a JSON array (empty documents
 * are skipped).  On error returns NULL and writes "line N: what" to err. */
json_t *il_yaml_load_all(const char *data, size_t len, char *err, size_t errlen);
json_t *il_yaml_load_file_all(const char *path, char *err, size_t errlen);
/* Exactly one document (a config file); an empty file gives {}. */
json_t *il_yaml_load_one(const char *data, size_t len, char *err, size_t errlen);

#endif
