/* fuzz_jsonscan.c -- il_json_scan and il_pod_scan_ref against jansson and
 * il_pod_parse_meta (jsonscan_oracle.h): whatever the scan vouches for,
 * jansson reads the same way, and whatever pod it accepts, the full parse
 * accepts with the same UID, names and restart policy. */
#include "fuzz.h"

#include "jsonscan_oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jsonscan_oracle((const char *)data, size);
    return 0;
}
