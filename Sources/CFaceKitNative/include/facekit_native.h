// FaceKit's native bridge: the only code that knows OpenCV and dlib.
//
// Conventions, kept on purpose so that Swift never sees C++:
// - Objects are opaque handles created by fk_*_open / fk_image_* and freed by
//   the matching fk_*_free. Handles are not thread-safe: callers serialise use
//   of one handle (the Swift side wraps each in a lock or a pool).
// - Every fallible call returns fk_status and fills an fk_error. No C++
//   exception crosses this boundary: each entry point catches everything.
// - Buffers are owned by the caller unless a function says otherwise.
#ifndef FACEKIT_NATIVE_H
#define FACEKIT_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fk_status {
    FK_OK = 0,
    FK_ERR_INVALID_ARGUMENT = 1,
    FK_ERR_DECODE = 2,        // bytes are not a decodable image
    FK_ERR_TOO_LARGE = 3,     // pixel count above the caller's limit
    FK_ERR_MODEL_LOAD = 4,    // a model file could not be read or parsed
    FK_ERR_INFERENCE = 5,     // a model failed while running
    FK_ERR_IO = 6,            // a file could not be read or written
    FK_ERR_INTERNAL = 7,
    FK_ERR_UNSUPPORTED = 8    // a valid model this path cannot express; use another one
} fk_status;

typedef struct fk_error {
    int32_t code;
    char message[512];
} fk_error;

// ---------------------------------------------------------------- images
// An 8-bit, 3-channel BGR image (OpenCV's cv::Mat).
typedef struct fk_image fk_image;

// Reads width and height from the header alone (JPEG, PNG, WebP, BMP, TIFF, ...),
// so that a decompression bomb is refused before any pixel is allocated.
// Returns FK_ERR_DECODE when the header is not one of the known formats.
fk_status fk_image_probe(const uint8_t *data, size_t length, int32_t *width, int32_t *height,
                         char *format, size_t format_capacity, fk_error *error);

// Decodes bytes to BGR, applying EXIF orientation; grayscale, 16-bit and alpha
// inputs are converted to 8-bit BGR (alpha dropped, as OpenCV's IMREAD_COLOR does).
// max_pixels > 0 refuses images above that many pixels with FK_ERR_TOO_LARGE.
fk_status fk_image_decode(const uint8_t *data, size_t length, int64_t max_pixels,
                          fk_image **out, fk_error *error);
// A reusable buffer for decoding into: deepface pads every image by half its
// height above and below and half its width left and right (int(0.5 * h),
// int(0.5 * w)) before detecting. Decoded into a canvas, the image already
// sits inside that zero border, and fk_image_pad_zero with those borders
// returns the canvas without copying. The canvas reuses its memory for the
// next image once the last image decoded into it is freed (until then it
// takes fresh memory). Not thread-safe: one canvas per thread at a time.
typedef struct fk_canvas fk_canvas;
fk_canvas *fk_canvas_new(void);
void fk_canvas_free(fk_canvas *canvas);
// fk_image_decode into canvas (same checks, same pixels).
fk_status fk_image_decode_padded(const uint8_t *data, size_t length, int64_t max_pixels, fk_canvas *canvas,
                                 fk_image **out, fk_error *error);
// Wraps a copy of packed BGR pixels (row stride = 3 * width).
fk_status fk_image_from_bgr(const uint8_t *bgr, int32_t width, int32_t height,
                            fk_image **out, fk_error *error);
void fk_image_free(fk_image *image);
int32_t fk_image_width(const fk_image *image);
int32_t fk_image_height(const fk_image *image);
// Copies packed BGR pixels into buf (capacity >= 3 * width * height).
fk_status fk_image_copy_bgr(const fk_image *image, uint8_t *buf, size_t capacity, fk_error *error);
// Encodes as JPEG (".jpg", ".jpeg") or PNG (".png") by extension and writes to path.
fk_status fk_image_write(const fk_image *image, const char *path, fk_error *error);
// Draws a box, an optional label and landmark points, in place.
fk_status fk_image_draw_face(fk_image *image, int32_t x, int32_t y, int32_t w, int32_t h,
                             const float *points, int32_t point_count, const char *label,
                             fk_error *error);

// ---------------------------------------------------------------- detection
typedef enum fk_detector_kind {
    FK_DETECTOR_OPENCV = 1,  // paths: haarcascade_frontalface_default.xml, haarcascade_eye.xml
    FK_DETECTOR_SSD = 2,     // paths: deploy.prototxt, res10 caffemodel (+ the two haar files for eyes)
    FK_DETECTOR_YUNET = 3,   // paths: face_detection_yunet_2023mar.onnx (float32)
    FK_DETECTOR_DLIB = 4,    // paths: shape_predictor_5_face_landmarks.dat
    FK_DETECTOR_MTCNN = 5    // paths: pnet.onnx, rnet.onnx, onet.onnx
} fk_detector_kind;

// Landmark slots, in deepface's naming (left/right as seen by the person).
enum {
    FK_LM_LEFT_EYE = 0,
    FK_LM_RIGHT_EYE = 1,
    FK_LM_NOSE = 2,
    FK_LM_MOUTH_LEFT = 3,
    FK_LM_MOUTH_RIGHT = 4,
    FK_LM_COUNT = 5
};

typedef struct fk_face {
    // Box in the pixel coordinates of the image passed to detect, as the
    // detector reports it (deepface's x, y, w, h convention, not clipped).
    float x, y, w, h;
    float confidence;
    // Bit i set when landmark slot i is present.
    int32_t landmark_mask;
    float landmarks[2 * FK_LM_COUNT];
} fk_face;

typedef struct fk_detector fk_detector;

// YuNet's paths: its ONNX file, then optionally one saved plan per canvas
// size, in fk_yunet_canvas order.
fk_status fk_detector_open(fk_detector_kind kind, const char *const *paths, int32_t path_count,
                           fk_detector **out, fk_error *error);
// The size of YuNet's canvas number index (0: 640 x 640); 0 past the last.
int32_t fk_yunet_canvas(int32_t index, int32_t *width, int32_t *height);
void fk_detector_free(fk_detector *detector);
// Writes at most capacity faces and sets *count to the number found (which may
// exceed capacity: call again with a larger buffer). score_threshold < 0 keeps
// the detector's deepface default.
fk_status fk_detector_detect(fk_detector *detector, const fk_image *image, float score_threshold,
                             fk_face *faces, int32_t capacity, int32_t *count, fk_error *error);
// deepface's eye finder (Haar eye cascade on a face crop), used by detectors
// that give no eyes. Coordinates are relative to the crop. Needs an OPENCV or
// SSD detector (the ones that load the eye cascade).
fk_status fk_detector_find_eyes(fk_detector *detector, const fk_image *image, int32_t x, int32_t y,
                                int32_t w, int32_t h, int32_t *found, float eyes[4],
                                fk_error *error);

// ---------------------------------------------------------------- alignment
// deepface's extract_face for one detection, on an image that the caller
// already padded (align on) or not (align off): crop (x, y, w, h); when align
// is non-zero and both eyes are given, take the face region with a 50% margin,
// rotate it about its centre so the eyes are level (cubic, black border),
// project the box and crop it. Returns a BGR uint8 face. align = 2: the
// rotation through warpAffine over the whole margin width, which the default
// (1) must match pixel for pixel; for tests.
// fits (fit_count (width, height) pairs), when given: the crop will only be
// fitted to these targets (fk_preprocess_fit, from [0, 1] floats), so a
// rotated crop is computed only at the rows and columns those resizes read,
// zero elsewhere; the crop then refuses any other use.
fk_status fk_align_deepface(const fk_image *image, int32_t x, int32_t y, int32_t w, int32_t h,
                            int32_t align, int32_t have_eyes, float left_eye_x, float left_eye_y,
                            float right_eye_x, float right_eye_y, const int32_t *fits, int32_t fit_count,
                            fk_image **out, fk_error *error);
// Adds a black border, as cv::copyMakeBorder with zeros does, without
// spending memory on the border (it stays unwritten in an anonymous mapping).
// An image decoded into a canvas with these borders returns its canvas,
// sharing the pixels (the images are never written to).
fk_status fk_image_pad_zero(const fk_image *image, int32_t top, int32_t bottom, int32_t left,
                            int32_t right, fk_image **out, fk_error *error);
// Five-point similarity alignment to the ArcFace/SFace 112x112 template,
// scaled to size x size. points are the 5 landmarks in fk_face slot order.
fk_status fk_align_landmarks(const fk_image *image, const float points[10], int32_t size,
                             fk_image **out, fk_error *error);
// deepface's resize_image: scale to fit (target_w, target_h) keeping the aspect
// ratio, pad with black to the target, as float32 BGR in [0, 1], HWC order.
// out must hold target_w * target_h * 3 floats. from_bytes: resize the 8-bit
// pixels and divide by 255 after (deepface's represent with detector skip).
// from_bytes = 2: the plain float64 path converting the whole crop, which
// the default path (0) must match bit for bit; for tests.
fk_status fk_preprocess_fit(const fk_image *face, int32_t target_w, int32_t target_h, int32_t from_bytes, float *out,
                            fk_error *error);

// ---------------------------------------------------------------- attribute inputs
// Resizes a face to width x height with cv::resize's bilinear filter (the
// aspect ratio is not kept, as cv::dnn::blobFromImage does), converting to
// gray first when gray is non-zero (the order fer uses). Writes packed bytes:
// 3 per pixel (BGR), or 1 when gray. capacity counts bytes.
fk_status fk_image_resized_bytes(const fk_image *image, int32_t width, int32_t height, int32_t gray,
                                 uint8_t *out, size_t capacity, fk_error *error);
// deepface's emotion input: cv::cvtColor(BGR2GRAY) of a float32 HWC BGR image
// (values as given, deepface passes [0, 1]), then cv::resize (bilinear) to
// target_w x target_h. out holds target_w * target_h floats.
fk_status fk_gray_resize_float(const float *bgr, int32_t width, int32_t height, int32_t target_w,
                               int32_t target_h, float *out, fk_error *error);

// ---------------------------------------------------------------- networks
// An OpenCV dnn network (ONNX, Caffe or TensorFlow; chosen by the file).
typedef struct fk_net fk_net;
fk_status fk_net_open(const char *model_path, const char *config_path /* nullable */,
                      fk_net **out, fk_error *error);
void fk_net_free(fk_net *net);
// Runs one forward pass on a float32 NCHW (or whatever layout the graph
// takes) tensor of the given shape; copies the first output into out.
fk_status fk_net_forward(fk_net *net, const float *input, const int32_t *shape, int32_t dims,
                         float *out, size_t out_capacity, size_t *out_count, fk_error *error);

// Rewrites an ONNX file once into a form OpenCV 4.6 imports: with the input
// fixed to input_shape (rank dims; -1 keeps the file's own value), shape
// computations are evaluated, If nodes with a known condition inlined and
// axes/bounds passed as inputs moved to attributes. Weights are copied as
// they are. The result is written to target_path (atomically); open it with
// fk_net_open. A null target_path only checks the file (parse and fold). FK_ERR_MODEL_LOAD names what is wrong with a corrupt,
// truncated or mismatched file.
typedef struct fk_onnx_report {
    int32_t nodes_in, nodes_out;
    int32_t output_rank;       // 0 when the output shape could not be inferred
    int64_t output_shape[8];
} fk_onnx_report;
fk_status fk_onnx_rewrite(const char *source_path, const char *target_path, const int64_t *input_shape,
                          int32_t rank, fk_onnx_report *report, fk_error *error);

// ---------------------------------------------------------------- ONNX as layer graphs
typedef struct fk_graph fk_graph;
// Builds a finished fk_graph (see "layer graphs" below) that computes what
// the ONNX file at path computes, from the layer types the Keras loader also
// uses, so that the file runs on fk_graph's engine instead of OpenCV's ONNX
// importer. Meant for files fk_onnx_rewrite has prepared (shapes folded), and
// for plain files without shape arithmetic (SFace). input_shape (rank dims,
// the file's own layout; -1 or rank 0 keeps the file's values) fixes the
// input; the batch is 1.
//
// Layout: fk_graph_forward always takes channels-last samples. *input_is_nhwc
// tells how those relate to the file's input:
//   1: the file takes (1, H, W, C) and its first node transposes it to NCHW
//      (deepface's channels-last exports): feed the file's input unchanged;
//   0: the file takes (1, C, H, W): feed that tensor transposed to (1, H, W, C).
// Outputs come out as the file's (only outputs of rank 2, or whose values do
// not depend on the layout, are accepted).
//
// FK_ERR_UNSUPPORTED (the message names the node and why) when the file holds
// an operator or a form of one that has no exact layer equivalent: run the
// file through fk_net_open instead. Nothing is approximated. FK_ERR_MODEL_LOAD
// for a corrupt file, FK_ERR_IO when it cannot be read.
//
// plan_out (may be NULL): the graph's saved plan (see fk_graph_open_plan),
// opened instead of translating the file when it still fits, else written
// there once the graph is built (see fk_graph_set_plan_output).
fk_status fk_graph_from_onnx(const char *path, const int64_t *input_shape, int32_t rank, const char *plan_out,
                             fk_graph **out, int32_t *input_is_nhwc, fk_error *error);
// As fk_graph_from_onnx, at an input height and width other than the file's
// (a fully convolutional net, as OpenCV's importer reshapes one); whatever
// does not follow (a fixed reshape) fails to translate.
// graph runs in lender's activation memory instead of its own, when it fits
// (the same net at a smaller input): 1 if so, else 0 and nothing changed. The
// two must never run at once, and lender must be freed after graph.
int32_t fk_graph_borrow_activations(fk_graph *graph, const fk_graph *lender);
fk_status fk_graph_from_onnx_resized(const char *path, const int64_t *input_shape, int32_t rank, const char *plan_out,
                                     fk_graph **out, int32_t *input_is_nhwc, fk_error *error);

// dlib's ResNet face descriptor (dlib_face_recognition_resnet_model_v1.dat).
typedef struct fk_dlib_resnet fk_dlib_resnet;
fk_status fk_dlib_resnet_open(const char *path, fk_dlib_resnet **out, fk_error *error);
void fk_dlib_resnet_free(fk_dlib_resnet *net);
// chips: count packed RGB 150x150 uint8 images; out: count * 128 floats.
fk_status fk_dlib_resnet_compute(fk_dlib_resnet *net, const uint8_t *chips, int32_t count,
                                 float *out, fk_error *error);

// ---------------------------------------------------------------- Keras weights (HDF5)
// A Keras weight file, in either layout Keras writes: save_weights (root
// attribute layer_names, one group per layer with attribute weight_names) or
// a full-model save (the same under /model_weights). Read-only.
typedef struct fk_h5 fk_h5;
fk_status fk_h5_open(const char *path, fk_h5 **out, fk_error *error);
void fk_h5_free(fk_h5 *file);
// Layer names in the file's order, each followed by a NUL; *needed is the
// byte count (call again with a larger buffer when it exceeds capacity).
fk_status fk_h5_layer_names(fk_h5 *file, char *buf, size_t capacity, size_t *needed, fk_error *error);
// Weight names of one layer in the file's order (Keras' order: kernel, bias,
// gamma, beta, moving_mean, ...), NUL-separated as above.
fk_status fk_h5_weight_names(fk_h5 *file, const char *layer, char *buf, size_t capacity, size_t *needed,
                             fk_error *error);
// Shape of a weight (at most 8 dimensions).
fk_status fk_h5_weight_shape(fk_h5 *file, const char *layer, const char *weight, int64_t shape[8],
                             int32_t *dims, fk_error *error);
// Reads a weight as float32 (HDF5 converts float16/float64); count must equal
// the product of its shape.
fk_status fk_h5_weight_read(fk_h5 *file, const char *layer, const char *weight, float *out, size_t count,
                            fk_error *error);

// ---------------------------------------------------------------- layer graphs
// A network built layer by layer in OpenCV dnn's vocabulary (for
// architectures described in Swift, with weights from anywhere). Layer 0 is
// the network input, NCHW. It runs on oneDNN when every layer is one that
// engine runs (the same results to float precision, faster), else on OpenCV;
// FACEKIT_ENGINE=opencv keeps every graph on OpenCV.
typedef struct fk_graph fk_graph;
typedef struct fk_blob {
    const float *data;
    const int32_t *shape;  // OpenCV's shape of the blob
    int32_t dims;
    // Non-zero: data is a Keras kernel, (spatial..., in, out), to transpose
    // into OpenCV's (out, in, spatial...) = shape. A depthwise kernel is the
    // case in = 1, a dense matrix the case without spatial axes.
    int32_t from_keras;
} fk_blob;
fk_status fk_graph_new(fk_graph **out, fk_error *error);
// engine: "opencv", "onednn" (fk_graph_finish fails if oneDNN cannot run the
// graph) or NULL (as fk_graph_new: FACEKIT_ENGINE, else oneDNN when it can).
fk_status fk_graph_new_with_engine(fk_graph **out, const char *engine, fk_error *error);
void fk_graph_free(fk_graph *graph);
// Adds one OpenCV layer. params: "key=value" pairs separated by ';', where a
// value is an integer, a real, a comma-separated integer list or a word.
// inputs: ids of earlier layers. expected_shape: the output shape (NCHW, batch
// 1) the caller's own shape inference gives; fk_graph_finish checks OpenCV's
// against it. Blobs are copied.
fk_status fk_graph_add(fk_graph *graph, const char *name, const char *type, const char *params,
                       const int32_t *inputs, int32_t input_count, const fk_blob *blobs, int32_t blob_count,
                       const int32_t *expected_shape, int32_t expected_dims, int32_t *id, fk_error *error);
// Declares the outputs and the input shape (NCHW, batch 1), checks every
// layer's inferred shape against its expectation (an error names the first
// layer that differs). On OpenCV it also runs one forward pass, which
// allocates and fuses, so that later calls pay no set-up cost; on oneDNN
// everything is planned already and the first call only touches its buffers.
fk_status fk_graph_finish(fk_graph *graph, const int32_t *input_shape, int32_t input_dims,
                          const int32_t *outputs, int32_t output_count, fk_error *error);
// Runs count samples given channels-last (NHWC, Keras' layout), one forward
// pass each; writes every output of every sample, sample-major, each output
// flattened in Keras' order (NHWC for 4-d outputs). *written is the float count.
fk_status fk_graph_forward(fk_graph *graph, const float *nhwc, int32_t count, float *out, size_t capacity,
                           size_t *written, fk_error *error);
// Plans: a graph that runs on oneDNN, saved with its weights already in the
// layouts its primitives use, so that a later process maps the file instead
// of reading and converting the model (processes share those pages).
// Before fk_graph_finish: where finish writes the plan (atomically; failing
// to write it does not fail finish). input_is_nhwc is handed back by
// fk_graph_open_plan (fk_graph_from_onnx's flag).
fk_status fk_graph_set_plan_output(fk_graph *graph, const char *path, int32_t input_is_nhwc, fk_error *error);
// A finished graph from a saved plan. FK_ERR_IO when it cannot be read,
// FK_ERR_MODEL_LOAD when it is corrupt or stale (saved for another CPU or
// oneDNN): rebuild from the model and save again. FK_ERR_UNSUPPORTED with
// FACEKIT_ENGINE=opencv. The plan must be the one of the model the caller
// means: it is trusted as to what network it holds.
fk_status fk_graph_open_plan(const char *path, fk_graph **out, int32_t *input_is_nhwc, fk_error *error);
// Another copy of a graph opened from a plan, for running side by side: its
// own activations and primitives, the same mapped weights (one mapping for
// every copy). FK_ERR_UNSUPPORTED when `like` did not come from a plan.
fk_status fk_graph_open_sibling(const fk_graph *like, fk_graph **out, fk_error *error);
// A finished graph's outputs and their shapes (OpenCV's, batch first; a
// 4-d output is flattened channels last by fk_graph_forward).
int32_t fk_graph_output_count(const fk_graph *graph);
fk_status fk_graph_output_shape(const fk_graph *graph, int32_t index, int32_t shape[8], int32_t *dims, fk_error *error);
// "onednn" or "opencv": the engine a finished graph runs on.
const char *fk_graph_engine(const fk_graph *graph);
// What the oneDNN plan of a finished graph holds (layers, steps, fusions,
// Winograd and sparse products, threads), as FACEKIT_PROFILE prints it;
// empty on OpenCV. Valid until the graph is freed.
const char *fk_graph_summary(fk_graph *graph);

// ---------------------------------------------------------------- ANN
// An approximate nearest-neighbour index over unit vectors with inner product
// (cosine similarity): vectors are L2-normalised on the way in. Built from a
// faiss index_factory description ("IVF1024,Flat", "IDMap2,HNSW32", ...), or
// "SQ4": FaceKit's own scan of 4-bit codes with exact re-ranking of the best
// candidates (ann_scan.hpp), which keeps its ids and removes in place.
// Not thread-safe: the caller serialises use of a handle.
typedef struct fk_ann fk_ann;
fk_status fk_ann_create(int32_t dimensions, const char *description, fk_ann **out, fk_error *error);
void fk_ann_free(fk_ann *ann);
// Whether the index still needs training (IVF: its coarse centroids).
int32_t fk_ann_needs_training(const fk_ann *ann);
fk_status fk_ann_train(fk_ann *ann, const float *vectors, int64_t count, fk_error *error);
fk_status fk_ann_add(fk_ann *ann, const float *vectors, const int64_t *ids, int64_t count, fk_error *error);
// Removes ids; *removed gets how many were there. FK_ERR_INVALID_ARGUMENT
// when the index kind cannot remove (HNSW): rebuild it instead.
fk_status fk_ann_remove(fk_ann *ann, const int64_t *ids, int64_t count, int64_t *removed, fk_error *error);
int64_t fk_ann_count(const fk_ann *ann);
// IVF: the number of coarse lists; 0 for other kinds.
int32_t fk_ann_lists(const fk_ann *ann);
int32_t fk_ann_dimensions(const fk_ann *ann);
// Copies the stored ids (any order) into out (capacity >= fk_ann_count).
fk_status fk_ann_ids(const fk_ann *ann, int64_t *out, int64_t capacity, fk_error *error);
// Search breadth: nprobe for IVF, efSearch for HNSW, candidates re-ranked for SQ4.
fk_status fk_ann_set_depth(fk_ann *ann, int32_t depth, fk_error *error);
// k nearest of one query: ids (-1 past the end) and cosine similarities.
fk_status fk_ann_search(const fk_ann *ann, const float *query, int32_t k, int64_t *ids, float *similarities,
                        fk_error *error);
// Writes to path + ".tmp.PID", flushes, renames over path: a crash leaves the old
// file or the new one, never half of one.
fk_status fk_ann_save(const fk_ann *ann, const char *path, fk_error *error);
fk_status fk_ann_load(const char *path, fk_ann **out, fk_error *error);
// Threads faiss may use (OpenMP) for training and adding.
void fk_ann_set_threads(int32_t threads);

// ---------------------------------------------------------------- misc
// Threads OpenCV and the oneDNN nets created after this call may use inside
// one call: n > 0 that many (1 when the caller parallelises), n < 0 every
// core. Until it is called, oneDNN nets use one thread (libgomp's idle threads
// spin, which costs dearly when other processes share the cores) unless
// FACEKIT_THREADS or OMP_WAIT_POLICY says otherwise; FACEKIT_THREADS always wins.
void fk_set_num_threads(int32_t threads);
// Allocations of at least `bytes` are mapped on their own and go back to the
// system when freed; smaller ones come from the heap, which keeps freed space
// for reuse. No-op off glibc.
void fk_set_mmap_threshold(size_t bytes);
// glibc's M_TRIM_THRESHOLD: free memory at the top of a heap beyond this
// much goes back to the system.
void fk_set_trim_threshold(size_t bytes);
// SHA-256 of a file, as 64 lowercase hex characters plus a NUL.
fk_status fk_sha256_file(const char *path, char hex[65], fk_error *error);

// Stops OpenBLAS's idle worker threads, which busy-wait ~0.1 s after start-up
// and after each threaded call; OpenBLAS restarts them when it needs them.
// 1 when the process's BLAS is OpenBLAS, else 0 (nothing done).
int32_t fk_blas_stop_idle_threads(void);
// Version strings of the linked native libraries.
const char *fk_native_versions(void);

#ifdef __cplusplus
}
#endif

#endif
