/* src/io/media.h: images (PNG, JPEG) and videos (FFmpeg) in and out.
 * Contract: 8-bit interleaved RGB in memory (kn_image, kn_video from kinora.h); readers validate
 * sizes (at most 16384 px a side) and name the file on error; writers are atomic (temp + rename).
 * Video output by extension: .mp4 .m4v .mkv .mov (H.264, yuv420p), .webm (VP9), .gif, .y4m (4:2:0),
 * any other container FFmpeg names by its extension whose default encoder takes yuv420p (.avi, .ts,
 * ...), or a folder of PNG frames 00000.png, 00001.png, ... (an existing empty folder or a path ending
 * in '/'). */
#ifndef KN_MEDIA_H
#define KN_MEDIA_H
#include "core/core.h"

/* PNG or JPEG by content; a JPEG's EXIF orientation is applied, so a phone's photo comes out upright.
 * A PNG's alpha is composited over black. */
kn_status kn_image_read(const char *path, kn_image *img, kn_error *err);
/* What becomes of an image's or a video's alpha: the long-standing way (an image's colour composited
 * over black, a video's kept as stored), composited over black (c * a / 255, rounded: the colour
 * premultiplied by the alpha), the colour kept as stored, or the alpha itself handed out as grey
 * (R = G = B = alpha; 255 for frames without one). */
typedef enum kn_alpha_mode { KN_ALPHA_DEFAULT, KN_ALPHA_OVER_BLACK, KN_ALPHA_STRAIGHT, KN_ALPHA_MATTE } kn_alpha_mode;
/* kn_image_read with the alpha taken as mode says; *has_alpha: the image has an alpha channel (a PNG
 * with one, or with a transparent palette entry or colour). */
kn_status kn_image_read_as(const char *path, kn_alpha_mode mode, kn_image *img, int *has_alpha, kn_error *err);
/* The w x h RGB image src shown as EXIF orientation o (1..8) says, into dst: 1 as stored, 2 mirrored,
 * 3 turned 180 degrees, 4 flipped, 5 transposed, 6 turned 90 degrees clockwise, 7 transversed, 8
 * turned 90 degrees counter-clockwise. dst is h x w for 5..8, else w x h. */
void kn_rgb_orient(const uint8_t *src, int w, int h, int o, uint8_t *dst);
/* The orientation (1..8) that the EXIF data of a JPEG APP1 marker (n bytes, "Exif\0\0" first) gives;
 * 1 when it has none or is damaged. */
int kn_exif_orientation(const uint8_t *app1, size_t n);
kn_status kn_image_write_png(const char *path, const kn_image *img, kn_error *err);
/* Encodes RGB to PNG in memory (*out from malloc; path only names the target in errors). */
kn_status kn_png_encode(const char *path, const uint8_t *rgb, int width, int height, uint8_t **out,
                        size_t *n, kn_error *err);
/* The same for interleaved pixels of 3 (RGB) or 4 (RGBA, straight alpha) channels. */
kn_status kn_png_encode_channels(const char *path, const uint8_t *px, int channels, int width, int height,
                                 uint8_t **out, size_t *n, kn_error *err);
kn_status kn_image_alloc(kn_image *img, int width, int height, kn_error *err);
void kn_image_free(kn_image *img);
/* Scales src to cover w x h (aspect kept, bilinear with area averaging when shrinking) and crops the
 * centre: the documented image-to-video preprocessing. */
kn_status kn_image_resize_cover(const kn_image *src, int w, int h, kn_image *dst, kn_error *err);

/* Decoded frames are at most KN_IMAGE_MAX_SIDE a side and KN_VIDEO_MAX_BYTES of RGB in all (read
 * longer videos in ranges). */
#define KN_IMAGE_MAX_SIDE 16384
#define KN_VIDEO_MAX_BYTES ((size_t)1 << 34)
/* Reads frames [first, first+max_frames) (max_frames <= 0: all) of a video file or PNG folder (a file
 * whose stream changes size is read at its first frame's size, as the reader below). */
kn_status kn_video_read_range(const char *path, int first, int max_frames, kn_video *v, kn_error *err);
kn_status kn_video_alloc(kn_video *v, int width, int height, int nframes, float fps, kn_error *err);
/* A video (file or PNG folder) read one frame at a time, in order, so it need not fit in memory: the
 * frames, size and rate kn_video_read gives, and its errors. open reads frame 0 (a video without
 * frames fails there), so width, height and fps (0: unknown, as for a PNG folder) are known from
 * then on; next hands out frame after frame into rgb (width * height * 3 bytes), *got = 0 after the
 * last. A video stream that changes size is scaled to its first frame's; a PNG folder's frame of
 * another size fails next. */
typedef struct kn_video_reader kn_video_reader;
kn_status kn_video_reader_open(const char *path, kn_video_reader **out, kn_error *err);
/* deinterlace: nonzero: a stream that is interlaced (its field order, else its first frame's flag)
 * and whose first frame is flagged interlaced is handed out a frame per field (deinterlace.h: its own
 * lines kept, the others rebuilt as FFmpeg's yadif=mode=send_field rebuilds them, to the bit), at
 * twice its rate: fps, times and frame count are the fields'. Every frame of such a stream is taken
 * as two fields. */
/* alpha: KN_ALPHA_DEFAULT (0) hands out a video's colour as stored under its alpha and a PNG frame's
 * composited over black, as kn_video_reader_open does; KN_ALPHA_OVER_BLACK composites both over
 * black (premultiplies), KN_ALPHA_STRAIGHT keeps both as stored; KN_ALPHA_MATTE hands out the alpha
 * instead of the colour, as grey (R = G = B = alpha, 8-bit; 255 where the frames have none), the same
 * frames at the same times, so that a second reader can carry a video's transparency beside its
 * colour. */
typedef struct kn_video_reader_opts {
    int deinterlace;
    kn_alpha_mode alpha;
} kn_video_reader_opts;
kn_status kn_video_reader_open_with(const char *path, const kn_video_reader_opts *o, kn_video_reader **out,
                                    kn_error *err);
void kn_video_reader_info(const kn_video_reader *r, int *width, int *height, float *fps);
kn_status kn_video_reader_next(kn_video_reader *r, uint8_t *rgb, int *got, kn_error *err);
/* The presentation time of the frame next handed out last, in seconds after frame 0's, on the clock
 * of the reported fps: a frame whose timestamp is within a tick of the stream's steady cadence is at
 * exactly i / fps for a whole i, others (a variable frame rate: a phone's or a screen recording's
 * capture, a GIF's uneven delays) where their timestamps put them. NAN when unknown (a PNG folder, a
 * stream without timestamps). */
double kn_video_reader_time(const kn_video_reader *r);
/* Frame 0's presentation time on the file's own clock, in seconds (where its sound lines up); NAN
 * when unknown. */
double kn_video_reader_start(const kn_video_reader *r);
/* How many frames the file says it has (its stream's count, else its duration at its rate; a GIF's
 * are counted), for progress: damaged or unusual files can differ. 0 when it does not say (a PNG
 * folder). */
long long kn_video_reader_frames(const kn_video_reader *r);
/* How a video's pixels are meant to be shown, beyond their values: the shape of a pixel (sar_num :
 * sar_den, width to height; 0:0 when square or unknown), as a DVD's or an anamorphic camera's
 * stretched pixels need, and the colour primaries and transfer characteristic that the decoded RGB
 * values are in (ITU-T H.273 code points, which FFmpeg's AVCOL_PRI_* and AVCOL_TRC_* share; 0 when
 * not stated). The YUV matrix is not among them: decoding applied it. */
typedef struct kn_video_display {
    int sar_num, sar_den;
    int primaries, transfer;
} kn_video_display;
/* The display of the reader's frames as handed out (a stream turned upright has its pixel shape
 * turned with it); all 0 for a PNG folder. */
void kn_video_reader_display(const kn_video_reader *r, kn_video_display *d);
/* Whether the stream says its frames are interlaced (two fields of different times woven together,
 * as broadcast and DV video are): "tt", "bb", "tb" or "bt" then, else NULL (progressive or not said,
 * a PNG folder). Without the deinterlace option the reader hands the woven frames out as they are;
 * with it, kn_video_reader_deinterlaced is nonzero and the frames are the fields', unless the first
 * 48 frames show both fields of each at one moment (progressive segmented frames, PsF: a film or a
 * progressive camera sent as interlaced video; deinterlace.h, kn_field_timing): then the frames are
 * handed out as they are and kn_video_reader_psf is nonzero. */
const char *kn_video_reader_interlaced(const kn_video_reader *r);
int kn_video_reader_deinterlaced(const kn_video_reader *r);
int kn_video_reader_psf(const kn_video_reader *r);
/* Nonzero once a frame read had transparency (alpha below opaque: a GIF sticker, ProRes 4444): the
 * frames hand out its colour alone, as stored under the alpha (PNG folders' frames are composited
 * over black instead, kn_image_read). */
int kn_video_reader_transparent(const kn_video_reader *r);
/* Nonzero when frame 0's format holds alpha (a GIF's palette, ProRes 4444, VP9 with alpha, RGBA PNG
 * frames), whether or not any pixel is transparent. */
int kn_video_reader_has_alpha(const kn_video_reader *r);
void kn_video_reader_close(kn_video_reader *r);
static inline uint8_t *kn_video_frame(const kn_video *v, int i) {
    return v->rgb + (size_t)i * v->width * v->height * 3;
}

/* Frames appended one at a time to v (the readers, the GIF writer): the buffer grows by doubling up
 * to KN_VIDEO_MAX_BYTES; the first frame sets the size and later ones must match it. *dst gets where
 * the new frame goes; path names the file in errors. */
typedef struct kn_frame_store {
    kn_video *v;
    size_t cap;    /* frames the buffer can hold */
} kn_frame_store;
kn_status kn_frame_store_push(kn_frame_store *fs, const char *path, int w, int h, uint8_t **dst, kn_error *err);

/* A video written one frame at a time, so the frames need not all be in memory (the GIF writer keeps
 * them until finish: its palette covers every frame). Same formats and guarantees as kn_video_write,
 * which is open, add each frame, finish: the file appears under its name only when finish succeeds;
 * finish and abort free the writer, and after a failed add the caller aborts. fps is ignored for a
 * PNG folder. */
typedef struct kn_video_writer kn_video_writer;
kn_status kn_video_writer_open(const char *path, int width, int height, float fps, kn_video_writer **out,
                               kn_error *err);
kn_status kn_video_writer_add(kn_video_writer *vw, const uint8_t *rgb, kn_error *err);
/* Opens a writer for path (encoded as e asks; NULL: the format's own) and aborts it: fails, as open
 * would, when the extension, encoder, codec, crf, size, rate or folder cannot be written, and leaves
 * nothing behind. For a long job, before it starts. */
kn_status kn_video_writer_check(const char *path, int width, int height, float fps, const kn_video_encoding *e,
                                kn_error *err);
/* A writer opened with more than a size and rate (o NULL: as kn_video_writer_open).
 * - timed: the frames come with their times (a variable frame rate), added with
 *   kn_video_writer_add_at: time in seconds, from any origin (the first frame's is the start). fps
 *   is the nominal rate: .mp4/.mkv/.mov/.webm place each frame to 1/1000 of a frame at it (a time
 *   not after the frame before's goes one such tick after it), a GIF in centiseconds, and the last
 *   frame lasts one nominal frame; kn_video_writer_add puts a frame a nominal frame after the one
 *   before. Other formats (.y4m, a PNG folder, .avi, .ts, ...) take the frames in order at the
 *   nominal rate.
 * - audio_from: a file whose sound goes into the output, the output's time 0 being that file's time
 *   audio_start (seconds; its first video frame): sound before it is cut, sound after the last frame
 *   kept. It is copied unchanged where the container holds its codec, else re-encoded in the
 *   container's own audio codec (WebM given AAC gets Opus). The path must stay valid until finish or
 *   abort. A file without sound adds none; an output without sound (a GIF, .y4m, PNG frames), or one
 *   the sound cannot be converted for, gets none; kn_video_writer_audio_note says so.
 * - display: the pixel shape and colour tags to store (an input's, so they survive): the pixel
 *   shape goes into every format that holds one (not GIF or PNG frames), the primaries and
 *   transfer into those with colour tags (not .y4m); 0s keep the defaults, square pixels in
 *   BT.709.
 * - tags_from: a file whose tags the output keeps (its container's: title, creation time, place;
 *   its video stream's: language, title), less those of the old encoding (io/av_tags.h); formats
 *   FFmpeg writes only (not .y4m, GIF or PNG frames). The sound's own tags come with the sound.
 * - subtitles_from: a file whose subtitle streams and chapters go into the output, on the sound's
 *   clock (audio_start is that file's time of output time 0): copied where the container holds their
 *   codec, text subtitles re-encoded into its own text codec where not, others left out
 *   (io/subtitle_copy.h; kn_video_writer_subtitle_note says which). Formats FFmpeg writes, less GIF.
 * - encoding: the codec and crf (kinora.h, kn_video_encoding; io/video_codecs.h), or NULL for the
 *   format's own. Checked at open, before anything is written.
 * - alpha: the frames added are RGBA (straight alpha, 4 bytes a pixel), and the file keeps their
 *   transparency: PNG frames with alpha, a GIF (pixels below half opaque are transparent), VP9 with
 *   alpha (yuva420p) in WebM or Matroska, ProRes 4444 (yuva444p10le), FFV1 (bgra), and the encoders
 *   FFmpeg picks by extension that take a format with alpha (.apng, .webp). Other formats fail at
 *   open (kn_video_writer_holds_alpha tells beforehand). */
typedef struct kn_video_writer_opts {
    int timed;
    const char *audio_from;
    double audio_start;
    kn_video_display display;
    const char *tags_from;
    const char *subtitles_from;
    const kn_video_encoding *encoding;
    int alpha;
} kn_video_writer_opts;
kn_status kn_video_writer_open_with(const char *path, int width, int height, float fps,
                                    const kn_video_writer_opts *o, kn_video_writer **out, kn_error *err);
kn_status kn_video_writer_add_at(kn_video_writer *vw, const uint8_t *rgb, double time, kn_error *err);
/* Why the sound asked for was left out, or that it was re-encoded; "" when it was copied or there
 * was none. */
const char *kn_video_writer_audio_note(const kn_video_writer *vw);
/* Which subtitles were left out or re-encoded; "" when all were copied or there were none. */
const char *kn_video_writer_subtitle_note(const kn_video_writer *vw);
kn_status kn_video_writer_finish(kn_video_writer *vw, kn_error *err);
void kn_video_writer_abort(kn_video_writer *vw);
/* How the writer reads path: a PNG folder (needs no fps), and one that keeps every frame until
 * finish (a GIF). */
int kn_video_path_is_folder(const char *path);
/* Whether a writer of path with encoding e (NULL: the format's own) keeps transparency (the alpha
 * option); 0 also when it could not be opened at all. */
int kn_video_writer_holds_alpha(const char *path, const kn_video_encoding *e);
/* Bytes a pixel of the frames the writer takes: 3 (RGB), or 4 (RGBA) when opened with alpha. */
int kn_video_writer_channels(const kn_video_writer *vw);
int kn_video_writer_keeps_frames(const char *path);

/* Lowers FFmpeg's process-wide log level to errors only (muxers print progress notes otherwise), and
 * leaves out what muxers say to the library's tries of whether a container takes a sound. The
 * library never calls this itself, since the level is global: programs call it once at start. */
void kn_media_quiet(void);

#endif
