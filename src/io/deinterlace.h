/* Deinterlacing: a frame for each field of an interlaced video, at the field's own time.
 *
 * An interlaced frame weaves two fields captured a field period apart (1/50 s in 50i broadcast):
 * its even lines are one moment, its odd lines the next. Interpolating woven frames as they are
 * moves both fields together, so moving edges keep their combing and half the motion samples are
 * lost. Here each field becomes a frame: its own lines are kept and the other lines are rebuilt by
 * the rule of yadif (Fievet, "yet another deinterlacing filter", as in FFmpeg): the mean of the
 * fields just before and after (which hold those lines) where the picture is still, the mean of the
 * lines above and below (along the best of five directions) where it moves, and between the two the
 * spatial guess clamped to how far the temporal one can be trusted.
 *
 * It works on one 8-bit plane at a time, as the decoder gives them (Y, Cb, Cr at their own
 * resolutions): a chroma row of interlaced 4:2:0 belongs to one field, so the fields' colours are
 * rebuilt from their own rows, before any conversion to RGB mixes them. A field of parity p (0: the
 * top one) is the rows y with y % 2 == p of its frame. */
#ifndef KN_IO_DEINTERLACE_H
#define KN_IO_DEINTERLACE_H

#include <stddef.h>
#include <stdint.h>

/* The plane (w x h, rows `stride` bytes apart) of field k, of parity `parity`, into out (rows
 * out_stride apart): the rows of that parity are copied from cur, the others rebuilt from cur and
 * from the planes (same size and stride) of the frames holding fields k-2 (p2, same parity), k-1
 * (p1, the other parity), k+1 (n1) and k+2 (n2). At the ends of a video pass NULL for what is not
 * there: p1 stands for a missing n1 and the reverse, cur for a missing p2 or n2. A plane of one row
 * is copied. */
void kn_deinterlace_plane(const uint8_t *p2, const uint8_t *p1, const uint8_t *cur, const uint8_t *n1,
                          const uint8_t *n2, ptrdiff_t stride, int w, int h, int parity, uint8_t *out,
                          ptrdiff_t out_stride);

/* Whether the two fields of woven frames show one moment (progressive pictures stored as fields,
 * "PsF": a film or a progressive camera in an interlaced broadcast, flagged interlaced frame by
 * frame) or two a field period apart (interlaced). Each line of the bottom field is compared with
 * the top field, interpolated to that line, of its own frame and of the frames before and after,
 * where the picture moves (the three interpolations differ there): a PsF bottom line matches its own
 * frame's top field far better than the neighbours', an interlaced one, half a frame from both its
 * own frame's top field and one neighbour's, about as well.
 * Add the 8-bit luma planes (w x h, rows `stride` bytes apart) of each three consecutive frames, then
 * ask. */
typedef struct { double own, other; long long moving; } kn_field_timing;
void kn_field_timing_add(const uint8_t *prev, const uint8_t *cur, const uint8_t *next, ptrdiff_t stride, int w,
                         int h, kn_field_timing *t);
/* 1: the fields show one moment (PsF); 0: they do not, or too little moved to tell. */
int kn_field_timing_is_psf(const kn_field_timing *t);

#endif
