/* src/io/av_tags.c: see av_tags.h. */
#include "io/av_tags.h"
#include <string.h>
#include <strings.h>
#include <libavutil/dict.h>

/* Tags left behind, by name (any case) or, ending in '*', by prefix. */
static const char *const dropped[] = {
    "encoder", "major_brand", "minor_version", "compatible_brands", "duration", "rotate", "timecode",
    "BPS*", "NUMBER_OF_*", "_STATISTICS_*",
};

static int is_dropped(const char *key) {
    for (size_t i = 0; i < sizeof dropped / sizeof *dropped; i++) {
        size_t n = strlen(dropped[i]);
        int prefix = dropped[i][n - 1] == '*';
        if (prefix ? !strncasecmp(key, dropped[i], n - 1) : !strcasecmp(key, dropped[i])) return 1;
    }
    return 0;
}

int kn_tags_copy(AVDictionary **dst, const AVDictionary *src) {
    const AVDictionaryEntry *e = NULL;
    while ((e = av_dict_get(src, "", e, AV_DICT_IGNORE_SUFFIX))) {
        if (is_dropped(e->key)) continue;
        int r = av_dict_set(dst, e->key, e->value, 0);
        if (r < 0) return r;
    }
    return 0;
}
