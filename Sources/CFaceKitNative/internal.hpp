// Shared C++ internals of the bridge. Never included from Swift.
#pragma once

#include "facekit_native.h"

#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace fk {
struct PaddedScratch;  // image.cpp
}

struct fk_image {
    cv::Mat mat;  // CV_8UC3, BGR
    // Set when the image was decoded into a canvas (fk_image_decode_padded,
    // which also sets `scratch`): the zero border deepface will pad it with
    // (pad_y rows above and below, pad_x columns left and right), which
    // fk_image_pad_zero then adds without writing it (`virtual_pad`).
    int32_t pad_y = 0, pad_x = 0;
    // A padded image that is only its interior: `mat` inside pad_y zero rows
    // above and below and pad_x zero columns each side. YuNet and deepface's
    // crops read it as it is (fk::padded_resize, the crop's sub-image); any
    // other use gets the whole padded pixels, made once (whole_pixels).
    bool virtual_pad = false;
    mutable std::once_flag made_once;
    mutable cv::Mat made;
    // The memory mat lies in when it is not mat's own: a canvas's or
    // fk_image_pad_zero's fk::ZeroMapping.
    std::shared_ptr<void> keep;
    mutable std::shared_ptr<void> made_keep;
    // The canvas's room for making a canvas image's padded pixels when they
    // must be; set on every canvas image and its virtual padding.
    std::shared_ptr<fk::PaddedScratch> scratch;
    // A canvas image decoded straight into its padded pixels (the canvas's
    // images are padded whole): what fk_image_pad_zero's virtual image is made of.
    cv::Mat prepadded;
    // Set on a crop computed only where fk_preprocess_fit reads it for these
    // (width, height) targets (see fk_align_deepface), so nothing else may
    // read it.
    std::vector<std::pair<int32_t, int32_t>> fit_only;
    // With fit_only, when set: `mat` holds only the computed rows and
    // columns, in order, of a crop fit_rows.size() x fit_cols.size();
    // fit_rows[r] (fit_cols[c]) is where the crop's row r (column c) lies in
    // mat, or -1 where no fit reads it.
    std::vector<int32_t> fit_rows, fit_cols;
    fk_image() = default;
    fk_image(const fk_image &) = delete;
    fk_image &operator=(const fk_image &) = delete;
};

namespace fk {

// A typed failure inside the bridge; converted to fk_status at the boundary.
struct Failure : std::exception {
    fk_status status;
    std::string message;
    Failure(fk_status s, std::string m) : status(s), message(std::move(m)) {}
    const char *what() const noexcept override { return message.c_str(); }
};

// Zeroed memory from an anonymous mapping, with huge pages asked for: pages
// never written stay the kernel's zero page, so an unused border costs no
// memory. Defined in image.cpp.
struct ZeroMapping {
    void *base = nullptr;
    size_t length = 0;
    explicit ZeroMapping(size_t bytes);
    ~ZeroMapping();
    ZeroMapping(const ZeroMapping &) = delete;
    ZeroMapping &operator=(const ZeroMapping &) = delete;
    uint8_t *bytes() const { return static_cast<uint8_t *>(base); }
};

// An image's pixels, for any use but fk_preprocess_fit: refused on a crop
// computed only where its fits read (fk_image::fit_only).
// A virtually padded image gets its padded pixels made here, once.
const cv::Mat &whole_pixels(const fk_image *image);

// The padded image's size, virtual or not; a compact crop's whole size.
inline int logical_rows(const fk_image *image) {
    if (!image->fit_rows.empty()) return int(image->fit_rows.size());
    return image->mat.rows + (image->virtual_pad ? 2 * image->pad_y : 0);
}
inline int logical_cols(const fk_image *image) {
    if (!image->fit_cols.empty()) return int(image->fit_cols.size());
    return image->mat.cols + (image->virtual_pad ? 2 * image->pad_x : 0);
}

// OpenCV 4.6's linear resize (cv::resize, INTER_LINEAR -> resizeGeneric_),
// the parts FaceKit's own copies of it share (fk::padded_resize for 8-bit
// images, the float64 fit in align.cpp).
//
// Whether cv::resize turns a linear resize from sw x sh to nw x nh into an
// area resize: an exact 2x shrink on both axes.
bool area_resize(int sw, int sh, int nw, int nh);

// Output i's source position along an axis scaled by `scale` (source over
// output size): the left (upper) tap, floor(float((i + 0.5) * scale - 0.5)),
// before any clamping, and the float fraction past it.
struct LinearTap {
    int s;
    float f;
};
inline LinearTap linear_tap(int i, double scale) {
    const float f = float((i + 0.5) * scale - 0.5);
    const int s = cvFloor(f);
    return {s, f - float(s)};
}

// The horizontal axis as resizeGeneric_ sets it up for `cn` interleaved
// channels: each output element's left tap (an element offset, clamped into
// the source) and the fraction past it, and `xmax` (an element index), from
// where the left tap is copied alone.
struct LinearColumns {
    std::vector<int> xofs;
    std::vector<float> fx;
    int xmax = 0;
    LinearColumns(int sw, int nw, int cn);
};

// The two source rows a linear resize's output row reads, each passed
// through the horizontal pass once: output rows move down, so a row is
// kept while the next output row still reads it.
template <typename T>
class RowPair {
public:
    explicit RowPair(size_t width) : rows_{std::vector<T>(width), std::vector<T>(width)} {}
    // Source row sy, made by fill(sy, row) unless held; `keep`: the row the
    // same output row reads too, which must not be replaced.
    template <typename Fill>
    const std::vector<T> &get(int sy, int keep, Fill &&fill) {
        for (int k = 0; k < 2; ++k)
            if (row_of_[k] == sy) return rows_[k];
        const int k = row_of_[0] == keep ? 1 : 0;
        fill(sy, rows_[k]);
        row_of_[k] = sy;
        return rows_[k];
    }

private:
    std::vector<T> rows_[2];
    int row_of_[2] = {-1, -1};
};

// OpenCV 4.6's cv::resize (INTER_LINEAR) of `interior` inside a zero border
// of pad_y rows and pad_x columns, to nw x nh, computed without the border:
// the same bytes as resizing the padded image. False where OpenCV would take
// another path (an exact 2x shrink is an area resize). Defined in image.cpp.
bool padded_resize(const cv::Mat &interior, int pad_y, int pad_x, int nw, int nh, cv::Mat &out);

inline void set_error(fk_error *error, fk_status status, const std::string &message) {
    if (!error) return;
    error->code = status;
    std::strncpy(error->message, message.c_str(), sizeof(error->message) - 1);
    error->message[sizeof(error->message) - 1] = '\0';
}

// Runs body, turning every C++ exception into a status and a message.
template <typename Body>
fk_status guarded(fk_error *error, fk_status fallback, Body &&body) {
    try {
        body();
        if (error) {
            error->code = FK_OK;
            error->message[0] = '\0';
        }
        return FK_OK;
    } catch (const Failure &f) {
        set_error(error, f.status, f.message);
        return f.status;
    } catch (const cv::Exception &e) {
        set_error(error, fallback, std::string("OpenCV: ") + e.what());
        return fallback;
    } catch (const std::bad_alloc &) {
        set_error(error, FK_ERR_TOO_LARGE, "out of memory");
        return FK_ERR_TOO_LARGE;
    } catch (const std::exception &e) {
        set_error(error, fallback, e.what());
        return fallback;
    } catch (...) {
        set_error(error, fallback, "unknown native error");
        return fallback;
    }
}

// One face found by a detector, in the coordinates of the image it was given.
struct Face {
    float x = 0, y = 0, w = 0, h = 0, confidence = 0;
    int mask = 0;
    float lm[2 * FK_LM_COUNT] = {0};
    void set_landmark(int slot, float px, float py) {
        mask |= 1 << slot;
        lm[2 * slot] = px;
        lm[2 * slot + 1] = py;
    }
};

class Detector {
public:
    virtual ~Detector() = default;
    // score_threshold < 0 means the detector's deepface default.
    virtual std::vector<Face> detect(const cv::Mat &bgr, float score_threshold) = 0;
    // The same faces for `interior` inside a zero border (pad_y rows above
    // and below, pad_x columns each side) as detect() on the padded image,
    // without that image; false when this detector has no such path.
    virtual bool detect_padded(const cv::Mat &interior, int pad_y, int pad_x, float score_threshold,
                               std::vector<Face> &faces) {
        (void)interior; (void)pad_y; (void)pad_x; (void)score_threshold; (void)faces;
        return false;
    }
    // deepface's Haar eye finder; only detectors that load the eye cascade have it.
    virtual bool find_eyes(const cv::Mat &face_bgr, cv::Point2f &left, cv::Point2f &right) {
        (void)face_bgr; (void)left; (void)right;
        throw Failure(FK_ERR_INVALID_ARGUMENT, "this detector has no eye cascade");
    }
};

std::unique_ptr<Detector> make_haar_detector(const std::vector<std::string> &paths);
std::unique_ptr<Detector> make_ssd_detector(const std::vector<std::string> &paths);
std::unique_ptr<Detector> make_yunet_detector(const std::vector<std::string> &paths);
std::unique_ptr<Detector> make_dlib_detector(const std::vector<std::string> &paths);
std::unique_ptr<Detector> make_mtcnn_detector(const std::vector<std::string> &paths);

// A whole file mapped into memory, released with the object. Files shorter
// than min_size fail with too_short (mapping nothing fails anyway).
// copy_on_write: pages may be written, for this process only (a saved plan,
// whose weights nothing should write, but which must not crash if it did).
struct MappedFile {
    void *data = reinterpret_cast<void *>(-1);
    size_t size = 0;
    MappedFile(const char *path, size_t min_size, const std::string &too_short, bool copy_on_write = false);
    ~MappedFile();
    MappedFile(const MappedFile &) = delete;
    MappedFile &operator=(const MappedFile &) = delete;
    const char *bytes() const { return static_cast<const char *>(data); }
};

}  // namespace fk
