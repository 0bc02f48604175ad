/* src/io/av_tags.h: the tags of an input file that an output made from it keeps. Contract: what
 * describes the content (title, artist, creation time, place, language, ...) is copied; what
 * describes the old encoding and would be wrong for the new one is not: the program that wrote it,
 * MP4 brands, durations and Matroska's statistics (bit rate, frame and byte counts), the rotation
 * (the frames are turned upright when read) and a start timecode (tied to the old frame rate: the
 * video writer sets it again, counted at the new rate). */
#ifndef KN_AV_TAGS_H
#define KN_AV_TAGS_H

struct AVDictionary;

/* Adds src's kept tags to *dst (an existing tag of the same name is replaced). Returns 0, or a
 * negative FFmpeg error (out of memory). */
int kn_tags_copy(struct AVDictionary **dst, const struct AVDictionary *src);

#endif
