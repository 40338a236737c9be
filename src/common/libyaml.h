/* libyaml.h -- libyaml's API, reached past our own yaml.h.
 *
 * src/common is on the include path and its yaml.h (the jansson loader)
 * shadows the system <yaml.h>.  Include this header with angle brackets
 * (#include <libyaml.h>) so it is found through the include path, and
 * #include_next then continues the search after src/common. */
#ifndef IL_LIBYAML_H
#define IL_LIBYAML_H
#include_next <yaml.h>
#endif
