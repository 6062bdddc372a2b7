// Image decoding with a size check that runs before any pixel is allocated,
// plus the small drawing and copying helpers the Swift side needs.
#include "codecs.hpp"
#include "internal.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <atomic>
#include <new>
#include <opencv2/imgproc.hpp>
#include <sys/mman.h>

namespace {

uint16_t be16(const uint8_t *p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t *p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
uint16_t le16(const uint8_t *p) { return uint16_t(p[1] << 8 | p[0]); }
uint32_t le32(const uint8_t *p) { return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0]; }

struct Probe {
    int64_t width = 0, height = 0;
    std::string format;
    bool truncated = false;
};

// JPEG: walk the markers to the first SOFn for the size. A stream with no EOI
// after its first scan is truncated: libjpeg would pad it with grey silently.
bool probe_jpeg(const uint8_t *d, size_t n, Probe &p) {
    if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) return false;
    p.format = "jpeg";
    size_t i = 2;
    bool have_size = false;
    while (i + 4 <= n) {
        if (d[i] != 0xFF) { ++i; continue; }
        uint8_t m = d[i + 1];
        if (m == 0xFF) { ++i; continue; }
        if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) { i += 2; continue; }
        uint16_t len = be16(d + i + 2);
        if (len < 2) return have_size;
        bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
        if (sof && i + 9 <= n) {
            p.height = be16(d + i + 5);
            p.width = be16(d + i + 7);
            have_size = true;
        }
        if (m == 0xDA) {
            // Entropy-coded data follows; 0xFF is stuffed as FF00 there, so the
            // first FFD9 after the scan header is the real end of image.
            // Nearly every file ends with it: then there is no need to walk
            // the whole scan data (twice per image, probe and decode; ~1% of
            // indexing a folder).
            size_t start = i + 2 + len;
            bool eoi = n >= start + 2 && d[n - 2] == 0xFF && d[n - 1] == 0xD9;
            for (size_t k = start; !eoi && k + 1 < n; ++k)
                if (d[k] == 0xFF && d[k + 1] == 0xD9) eoi = true;
            p.truncated = !eoi;
            return have_size;
        }
        i += 2 + len;
    }
    p.truncated = true;
    return have_size;
}

bool probe_png(const uint8_t *d, size_t n, Probe &p) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (n < 24 || std::memcmp(d, sig, 8) != 0 || std::memcmp(d + 12, "IHDR", 4) != 0) return false;
    p.format = "png";
    p.width = be32(d + 16);
    p.height = be32(d + 20);
    // A PNG must end with an IEND chunk; without it the data was cut.
    p.truncated = n < 12 || std::memcmp(d + n - 8, "IEND", 4) != 0;
    return true;
}

bool probe_bmp(const uint8_t *d, size_t n, Probe &p) {
    if (n < 26 || d[0] != 'B' || d[1] != 'M') return false;
    p.format = "bmp";
    uint32_t header = le32(d + 14);
    if (header == 12) {
        p.width = le16(d + 18);
        p.height = le16(d + 20);
    } else {
        p.width = std::abs(int64_t(int32_t(le32(d + 18))));
        p.height = std::abs(int64_t(int32_t(le32(d + 22))));
    }
    return true;
}

bool probe_webp(const uint8_t *d, size_t n, Probe &p) {
    if (n < 30 || std::memcmp(d, "RIFF", 4) != 0 || std::memcmp(d + 8, "WEBP", 4) != 0) return false;
    p.format = "webp";
    if (std::memcmp(d + 12, "VP8 ", 4) == 0) {
        p.width = le16(d + 26) & 0x3FFF;
        p.height = le16(d + 28) & 0x3FFF;
    } else if (std::memcmp(d + 12, "VP8L", 4) == 0) {
        const uint8_t *b = d + 21;
        p.width = 1 + (b[0] | (b[1] & 0x3F) << 8);
        p.height = 1 + ((b[1] >> 6) | b[2] << 2 | (b[3] & 0x0F) << 10);
    } else if (std::memcmp(d + 12, "VP8X", 4) == 0) {
        p.width = 1 + (d[24] | d[25] << 8 | d[26] << 16);
        p.height = 1 + (d[27] | d[28] << 8 | d[29] << 16);
    } else {
        return false;
    }
    return true;
}

bool probe_tiff(const uint8_t *d, size_t n, Probe &p) {
    if (n < 8) return false;
    bool le = d[0] == 'I' && d[1] == 'I' && d[2] == 42 && d[3] == 0;
    bool be = d[0] == 'M' && d[1] == 'M' && d[2] == 0 && d[3] == 42;
    if (!le && !be) return false;
    p.format = "tiff";
    auto r16 = [&](size_t o) { return le ? le16(d + o) : be16(d + o); };
    auto r32 = [&](size_t o) { return le ? le32(d + o) : be32(d + o); };
    size_t ifd = r32(4);
    if (ifd + 2 > n) return false;
    size_t count = r16(ifd);
    for (size_t k = 0; k < count; ++k) {
        size_t e = ifd + 2 + k * 12;
        if (e + 12 > n) break;
        uint16_t tag = r16(e), type = r16(e + 2);
        uint32_t value = type == 3 ? r16(e + 8) : r32(e + 8);
        if (tag == 256) p.width = value;
        if (tag == 257) p.height = value;
    }
    return p.width > 0 && p.height > 0;
}

Probe probe(const uint8_t *d, size_t n) {
    Probe p;
    if (probe_jpeg(d, n, p) || probe_png(d, n, p) || probe_webp(d, n, p) || probe_bmp(d, n, p) ||
        probe_tiff(d, n, p))
        return p;
    if (!p.format.empty())
        throw fk::Failure(FK_ERR_DECODE, "the " + p.format + " header is damaged");
    throw fk::Failure(FK_ERR_DECODE,
                      "not a supported image (JPEG, PNG, WebP, BMP or TIFF expected)");
}

fk_image *wrap(cv::Mat m) {
    auto *img = new fk_image;
    img->mat = std::move(m);
    return img;
}

// fk_image_decode's checks before any pixel is allocated.
Probe checked_probe(const uint8_t *data, size_t length, int64_t max_pixels) {
    if (!data || length == 0) throw fk::Failure(FK_ERR_DECODE, "the image is empty (0 bytes)");
    Probe p = probe(data, length);
    if (p.width <= 0 || p.height <= 0)
        throw fk::Failure(FK_ERR_DECODE, "the " + p.format + " header gives no size");
    if (max_pixels > 0 && p.width * p.height > max_pixels)
        throw fk::Failure(FK_ERR_TOO_LARGE,
                          "the image is " + std::to_string(p.width) + "x" + std::to_string(p.height) +
                              " pixels, above the limit of " + std::to_string(max_pixels) + " pixels");
    if (p.truncated)
        throw fk::Failure(FK_ERR_DECODE, "the " + p.format + " data is truncated");
    return p;
}

// The canvas' own mapping: decoded images up to this size (about 22 MP)
// reuse it, each written from its first byte, so a folder of images faults
// in and zeroes a lane's canvas once; larger ones take a mapping of their
// own, freed with the image, so one huge photo does not pin its memory for
// the rest of the run. deepface's zero border is never written: padding
// makes a virtual image (fk_image::virtual_pad) that YuNet and the crops
// read as it is.
constexpr size_t kCanvasBytes = size_t(64) << 20;

}  // namespace

fk::ZeroMapping::ZeroMapping(size_t bytes) : length(std::max<size_t>(bytes, 1)) {
    base = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) throw Failure(FK_ERR_TOO_LARGE, "cannot map memory for the padded image");
    // Huge pages: the resize before detection reads the whole zero border,
    // and with 4 KiB pages every page of it took a fault of its own (the
    // zero page) and every written page another. Indexing the 64 dataset
    // images: ~240k page faults -> ~49k, 1.31 s -> 1.19 s. Only a hint;
    // where transparent huge pages are off, nothing changes.
    madvise(base, length, MADV_HUGEPAGE);
}

fk::ZeroMapping::~ZeroMapping() { munmap(base, length); }

namespace fk {
// `mapping` (of `bytes`) to write the next image into. When an image made
// earlier still holds it (a caller keeping that image), the image keeps it
// and a fresh one is mapped: true then.
static bool reuse_mapping(std::shared_ptr<ZeroMapping> &mapping, size_t bytes) {
    if (mapping && mapping.use_count() > 1) mapping.reset();
    const bool fresh = !mapping;
    if (fresh) mapping = std::make_shared<ZeroMapping>(bytes);
    // Pairs with the release in the last holder's reference drop: its reads
    // of the old pixels happen before they are overwritten.
    std::atomic_thread_fence(std::memory_order_acquire);
    return fresh;
}

// A canvas's room for making its images' padded pixels (whole_pixels of a
// virtually padded image: detectors other than YuNet read the whole padded
// image). Every interior starts at the same byte, kInteriorAt, so images of
// any shape write the same pages and the kernel zeroes each page once;
// before the next image, the previous interior is cleared. Interiors whose
// rows span more than kScratchSpan bytes (6 bytes a pixel: about 16 MP) get
// a fresh mapping instead, freed with the image.
struct PaddedScratch {
    static constexpr size_t kScratchSpan = size_t(96) << 20, kInteriorAt = size_t(96) << 20;
    static constexpr size_t kBytes = kInteriorAt + 2 * kScratchSpan;
    std::mutex lock;
    std::shared_ptr<ZeroMapping> mapping;
    size_t dirty_step = 0, dirty_row_bytes = 0;
    int dirty_rows = 0;

    // Set once an image of this canvas needed its padded pixels (a detector
    // other than YuNet): later images are decoded straight into them.
    std::atomic<bool> wanted{false};

    // The padded copy of `interior`; `keep` holds its memory.
    cv::Mat make(const cv::Mat &interior, int pad_y, int pad_x, std::shared_ptr<void> &keep) {
        cv::Mat padded = place(interior.rows, interior.cols, pad_y, pad_x, keep);
        interior.copyTo(padded(cv::Rect(pad_x, pad_y, interior.cols, interior.rows)));
        return padded;
    }

    // A zero padded image of rows x cols inside these borders, its interior
    // left for the caller to write; `keep` holds its memory.
    cv::Mat place(int rows, int cols, int pad_y, int pad_x, std::shared_ptr<void> &keep) {
        const int prows = rows + 2 * pad_y, pcols = cols + 2 * pad_x;
        const size_t step = size_t(pcols) * 3, length = step * size_t(prows);
        const size_t offset = size_t(pad_y) * step + size_t(pad_x) * 3, row_bytes = size_t(cols) * 3;
        const size_t span = size_t(rows) * step;
        uint8_t *origin = nullptr;
        std::shared_ptr<ZeroMapping> memory;
        if (span > kScratchSpan || offset > kInteriorAt || length - offset > kBytes - kInteriorAt) {
            memory = std::make_shared<ZeroMapping>(length);
            origin = memory->bytes();
        } else {
            std::lock_guard<std::mutex> guard(lock);
            if (reuse_mapping(mapping, kBytes)) dirty_rows = 0;
            uint8_t *at = mapping->bytes() + kInteriorAt;
            if (!(step == dirty_step && row_bytes == dirty_row_bytes && rows == dirty_rows))
                for (int r = 0; r < dirty_rows; ++r) std::memset(at + size_t(r) * dirty_step, 0, dirty_row_bytes);
            // Recorded before any pixel is written, so that a decode failing
            // half-way is cleared too.
            dirty_step = step;
            dirty_row_bytes = row_bytes;
            dirty_rows = rows;
            memory = mapping;
            origin = at - offset;
        }
        keep = std::move(memory);
        return cv::Mat(prows, pcols, CV_8UC3, origin, step);
    }
};
}  // namespace fk

struct fk_canvas {
    std::shared_ptr<fk::ZeroMapping> mapping;
    fk::CoefficientMemory coefficients;
    std::shared_ptr<fk::PaddedScratch> scratch = std::make_shared<fk::PaddedScratch>();

    // Room for an image of rows x cols, as `out.mat`, recorded with
    // deepface's borders for it (int(0.5 * h), int(0.5 * w)).
    void place(int rows, int cols, fk_image &out) {
        out.keep.reset();
        out.scratch = scratch;
        out.pad_y = rows / 2;
        out.pad_x = cols / 2;
        if (scratch->wanted.load(std::memory_order_relaxed)) {
            mapping.reset();  // the compact room is not used again
            std::shared_ptr<void> keep;
            out.prepadded = scratch->place(rows, cols, out.pad_y, out.pad_x, keep);
            cv::Mat interior = out.prepadded(cv::Rect(out.pad_x, out.pad_y, cols, rows));
            // A fresh header, not a ROI: nothing reads past it into the border.
            out.mat = cv::Mat(rows, cols, CV_8UC3, interior.data, interior.step);
            out.keep = std::move(keep);
            return;
        }
        const size_t step = size_t(cols) * 3, length = step * size_t(rows);
        std::shared_ptr<fk::ZeroMapping> memory;
        if (length > kCanvasBytes) {
            memory = std::make_shared<fk::ZeroMapping>(length);
        } else {
            fk::reuse_mapping(mapping, kCanvasBytes);
            memory = mapping;
        }
        out.mat = cv::Mat(rows, cols, CV_8UC3, memory->bytes(), step);
        out.prepadded = cv::Mat();
        out.keep = std::move(memory);
    }
};

const cv::Mat &fk::whole_pixels(const fk_image *image) {
    if (!image->fit_only.empty())
        throw Failure(FK_ERR_INTERNAL, "this face crop was computed only for fitting to a model's input");
    if (!image->virtual_pad) return image->mat;
    // Only canvas images are padded virtually, so the scratch is there.
    std::call_once(image->made_once, [&] {
        image->scratch->wanted.store(true, std::memory_order_relaxed);
        image->made = image->scratch->make(image->mat, image->pad_y, image->pad_x, image->made_keep);
    });
    return image->made;
}

bool fk::area_resize(int sw, int sh, int nw, int nh) {
    const double scale_x = 1. / (double(nw) / sw), scale_y = 1. / (double(nh) / sh);
    const int iscale_x = cv::saturate_cast<int>(scale_x), iscale_y = cv::saturate_cast<int>(scale_y);
    return std::abs(scale_x - iscale_x) < DBL_EPSILON && std::abs(scale_y - iscale_y) < DBL_EPSILON && iscale_x == 2 &&
           iscale_y == 2;
}

fk::LinearColumns::LinearColumns(int sw, int nw, int cn)
    : xofs(static_cast<size_t>(nw * cn)), fx(static_cast<size_t>(nw * cn)), xmax(nw) {
    const double scale = 1. / (double(nw) / sw);
    for (int dx = 0; dx < nw; ++dx) {
        auto [sx, f] = linear_tap(dx, scale);
        if (sx < 0) f = 0, sx = 0;
        if (sx + 1 >= sw) {
            xmax = std::min(xmax, dx);
            if (sx >= sw - 1) f = 0, sx = sw - 1;
        }
        for (int k = 0; k < cn; ++k) {
            xofs[size_t(dx * cn + k)] = sx * cn + k;
            fx[size_t(dx * cn + k)] = f;
        }
    }
    xmax *= cn;
}

bool fk::padded_resize(const cv::Mat &in, int pad_y, int pad_x, int nw, int nh, cv::Mat &out) {
    // OpenCV 4.6: resize -> resizeGeneric_ with HResizeLinear<uchar, int,
    // short, 2048> (exact integer sums) and the 8-bit VResizeLinear, which
    // rounds every element, in its vector part and its tail alike, as
    // (((S0 >> 4) * b0 >> 16) + ((S1 >> 4) * b1 >> 16) + 2) >> 2. A test
    // compares the bytes with cv::resize of the padded image (photos and
    // noise, output widths from 1 up); 8000 random cases agreed outside it.
    const int h = in.rows, w = in.cols, cn = 3;
    const int sh = h + 2 * pad_y, sw = w + 2 * pad_x;
    if (nw <= 0 || nh <= 0 || in.type() != CV_8UC3 || area_resize(sw, sh, nw, nh)) return false;
    const double scale_y = 1. / (double(nh) / sh);
    const int width = nw * cn;
    const LinearColumns columns(sw, nw, cn);
    const std::vector<int> &xofs = columns.xofs;
    const int xmax = columns.xmax;
    std::vector<short> alpha(static_cast<size_t>(width) * 2);
    for (int d = 0; d < width; ++d) {
        alpha[size_t(d * 2)] = cv::saturate_cast<short>((1.f - columns.fx[size_t(d)]) * 2048);
        alpha[size_t(d * 2 + 1)] = cv::saturate_cast<short>(columns.fx[size_t(d)] * 2048);
    }
    // Outputs [d_lo, d_hi) (elements) have a tap in the interior; the rest
    // are 0. Within them, taps index a copy of the interior row with one
    // black pixel each side, so the loop needs no bounds test.
    int d_lo = width, d_hi = 0;
    for (int d = 0; d < width; ++d) {
        const int sx = xofs[size_t(d)] / cn, last = d < xmax ? sx + 1 : sx;
        if (last >= pad_x && sx < pad_x + w) d_lo = std::min(d_lo, d), d_hi = d + 1;
    }
    std::vector<int> tap(static_cast<size_t>(width));
    for (int d = d_lo; d < d_hi; ++d) tap[size_t(d)] = xofs[size_t(d)] - (pad_x - 1) * cn;
    std::vector<uint8_t> line(static_cast<size_t>(w + 2) * cn, 0);
    auto horizontal = [&](int sy, std::vector<int> &D) {
        std::memcpy(line.data() + cn, in.ptr<uint8_t>(sy - pad_y), size_t(w) * cn);
        const uint8_t *S = line.data();
        int *out_row = D.data();
        std::fill(out_row, out_row + d_lo, 0);
        std::fill(out_row + d_hi, out_row + width, 0);
        const int split = std::min(std::max(xmax, d_lo), d_hi);
        for (int d = d_lo; d < split; ++d) {
            const int t = tap[size_t(d)];
            out_row[d] = S[t] * alpha[size_t(d * 2)] + S[t + cn] * alpha[size_t(d * 2 + 1)];
        }
        for (int d = split; d < d_hi; ++d) out_row[d] = S[tap[size_t(d)]] * 2048;
    };
    auto in_border = [&](int sy) { return sy < pad_y || sy >= pad_y + h; };
    auto fill = [&](int sy, std::vector<int> &D) {  // a row of the border is all 0
        if (in_border(sy)) std::fill(D.begin(), D.end(), 0);
        else horizontal(sy, D);
    };
    RowPair<int> rows(static_cast<size_t>(width));
    out.create(nh, nw, CV_8UC3);
    for (int dy = 0; dy < nh; ++dy) {
        const LinearTap t = linear_tap(dy, scale_y);
        const int b0 = cv::saturate_cast<short>((1.f - t.f) * 2048), b1 = cv::saturate_cast<short>(t.f * 2048);
        const int y0 = std::clamp(t.s, 0, sh - 1), y1 = std::clamp(t.s + 1, 0, sh - 1);
        uint8_t *dst = out.ptr<uint8_t>(dy);
        if (in_border(y0) && in_border(y1)) {
            std::memset(dst, 0, size_t(width));
            continue;
        }
        const std::vector<int> &S0 = rows.get(y0, -2, fill);
        const std::vector<int> &S1 = rows.get(y1, y0, fill);
        // 0 where both rows are 0.
        std::memset(dst, 0, size_t(d_lo));
        std::memset(dst + d_hi, 0, size_t(width - d_hi));
        const int *s0 = S0.data(), *s1 = S1.data();
        for (int x = d_lo; x < d_hi; ++x)
            dst[x] = uint8_t(((((s0[x] >> 4) * b0) >> 16) + (((s1[x] >> 4) * b1) >> 16) + 2) >> 2);
    }
    return true;
}

extern "C" {

fk_status fk_image_probe(const uint8_t *data, size_t length, int32_t *width, int32_t *height,
                         char *format, size_t format_capacity, fk_error *error) {
    return fk::guarded(error, FK_ERR_DECODE, [&] {
        if (!data || length == 0) throw fk::Failure(FK_ERR_DECODE, "the image is empty (0 bytes)");
        Probe p = probe(data, length);
        *width = int32_t(std::min<int64_t>(p.width, INT32_MAX));
        *height = int32_t(std::min<int64_t>(p.height, INT32_MAX));
        if (format && format_capacity > 0) {
            std::strncpy(format, p.format.c_str(), format_capacity - 1);
            format[format_capacity - 1] = '\0';
        }
    });
}

fk_status fk_image_decode(const uint8_t *data, size_t length, int64_t max_pixels, fk_image **out,
                          fk_error *error) {
    return fk::guarded(error, FK_ERR_DECODE, [&] {
        *out = nullptr;
        Probe p = checked_probe(data, length, max_pixels);
        // Like deepface's cv2.imread: EXIF orientation applied, grey, 16-bit
        // and alpha images brought to 8-bit BGR.
        *out = wrap(fk::decode_image(data, length, p.format));
    });
}

fk_canvas *fk_canvas_new(void) { return new (std::nothrow) fk_canvas; }
void fk_canvas_free(fk_canvas *canvas) { delete canvas; }

fk_status fk_image_decode_padded(const uint8_t *data, size_t length, int64_t max_pixels, fk_canvas *canvas,
                                 fk_image **out, fk_error *error) {
    return fk::guarded(error, FK_ERR_DECODE, [&] {
        *out = nullptr;
        if (!canvas) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "no canvas");
        Probe p = checked_probe(data, length, max_pixels);
        auto image = std::make_unique<fk_image>();
        // The JPEG decoder writes its rows straight into the canvas; any
        // other image is decoded as usual and copied in.
        const fk::PixelTarget target = [&](int rows, int cols) {
            canvas->place(rows, cols, *image);
            return image->mat;
        };
        cv::Mat decoded = fk::decode_image(data, length, p.format, &target, &canvas->coefficients);
        if (image->mat.empty() || decoded.data != image->mat.data) {
            canvas->place(decoded.rows, decoded.cols, *image);
            decoded.copyTo(image->mat);
        }
        *out = image.release();
    });
}

fk_status fk_image_from_bgr(const uint8_t *bgr, int32_t width, int32_t height, fk_image **out,
                            fk_error *error) {
    return fk::guarded(error, FK_ERR_INVALID_ARGUMENT, [&] {
        if (!bgr || width <= 0 || height <= 0) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "empty pixels");
        cv::Mat m(height, width, CV_8UC3, const_cast<uint8_t *>(bgr));
        *out = wrap(m.clone());
    });
}

void fk_image_free(fk_image *image) { delete image; }
int32_t fk_image_width(const fk_image *image) { return image ? fk::logical_cols(image) : 0; }
int32_t fk_image_height(const fk_image *image) { return image ? fk::logical_rows(image) : 0; }

fk_status fk_image_copy_bgr(const fk_image *image, uint8_t *buf, size_t capacity, fk_error *error) {
    return fk::guarded(error, FK_ERR_INVALID_ARGUMENT, [&] {
        const cv::Mat &m = fk::whole_pixels(image);
        size_t row = size_t(m.cols) * 3;
        if (capacity < row * m.rows) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "buffer too small");
        for (int r = 0; r < m.rows; ++r) std::memcpy(buf + r * row, m.ptr(r), row);
    });
}

fk_status fk_image_write(const fk_image *image, const char *path, fk_error *error) {
    return fk::guarded(error, FK_ERR_IO, [&] {
        fk::write_image(fk::whole_pixels(image), path);
    });
}

fk_status fk_image_draw_face(fk_image *image, int32_t x, int32_t y, int32_t w, int32_t h,
                             const float *points, int32_t point_count, const char *label,
                             fk_error *error) {
    return fk::guarded(error, FK_ERR_INTERNAL, [&] {
        const cv::Mat &pixels = fk::whole_pixels(image);  // refuses a crop made only for fitting
        if (image->virtual_pad) {  // drawn on, so made whole and its own
            image->mat = pixels;
            image->keep = image->made_keep;
            image->virtual_pad = false;
        }
        cv::Mat &m = image->mat;
        int thickness = std::max(1, std::min(m.cols, m.rows) / 300);
        cv::rectangle(m, cv::Rect(x, y, w, h), cv::Scalar(0, 255, 0), thickness);
        static const cv::Scalar colors[] = {{255, 0, 0}, {0, 0, 255}, {0, 255, 255}, {255, 0, 255}, {255, 255, 0}};
        for (int i = 0; i < point_count; ++i)
            cv::circle(m, cv::Point(int(points[2 * i]), int(points[2 * i + 1])), thickness * 2 + 1,
                       colors[i % 5], cv::FILLED);
        if (label && *label) {
            double scale = std::max(0.5, w / 200.0);
            int base = 0;
            cv::Size size = cv::getTextSize(label, cv::FONT_HERSHEY_SIMPLEX, scale, thickness, &base);
            int ty = std::max(size.height + 2, y - 4);
            cv::rectangle(m, cv::Rect(x, ty - size.height - 2, size.width + 4, size.height + base + 4),
                          cv::Scalar(0, 255, 0), cv::FILLED);
            cv::putText(m, label, cv::Point(x + 2, ty), cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(0, 0, 0),
                        thickness);
        }
    });
}

}  // extern "C"

// Inputs of the attribute networks, derived from one face crop.
extern "C" {

fk_status fk_image_resized_bytes(const fk_image *image, int32_t width, int32_t height, int32_t gray, uint8_t *out,
                                 size_t capacity, fk_error *error) {
    return fk::guarded(error, FK_ERR_INTERNAL, [&] {
        if (width <= 0 || height <= 0) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "target size must be positive");
        const int channels = gray ? 1 : 3;
        if (capacity < size_t(width) * size_t(height) * size_t(channels))
            throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "output buffer too small");
        // A virtually padded image in colour: from its interior, the same bytes.
        cv::Mat direct;
        if (!gray && image->virtual_pad && image->fit_only.empty() &&
            fk::padded_resize(image->mat, image->pad_y, image->pad_x, width, height, direct)) {
            for (int y = 0; y < height; ++y) std::memcpy(out + size_t(y) * width * 3, direct.ptr(y), size_t(width) * 3);
            return;
        }
        const cv::Mat &src = fk::whole_pixels(image);
        if (src.empty()) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "empty face crop");
        cv::Mat source = src;
        if (gray) cv::cvtColor(src, source, cv::COLOR_BGR2GRAY);
        cv::Mat target(height, width, gray ? CV_8UC1 : CV_8UC3, out);
        cv::resize(source, target, cv::Size(width, height), 0, 0, cv::INTER_LINEAR);
        // resize reallocates when it cannot write in place; keep the caller's buffer.
        if (target.data != out) throw fk::Failure(FK_ERR_INTERNAL, "resize did not write into the buffer");
    });
}

fk_status fk_gray_resize_float(const float *bgr, int32_t width, int32_t height, int32_t target_w, int32_t target_h,
                               float *out, fk_error *error) {
    return fk::guarded(error, FK_ERR_INTERNAL, [&] {
        if (width <= 0 || height <= 0 || target_w <= 0 || target_h <= 0)
            throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "sizes must be positive");
        cv::Mat src(height, width, CV_32FC3, const_cast<float *>(bgr));
        cv::Mat gray;
        cv::cvtColor(src, gray, cv::COLOR_BGR2GRAY);
        cv::Mat target(target_h, target_w, CV_32FC1, out);
        cv::resize(gray, target, cv::Size(target_w, target_h), 0, 0, cv::INTER_LINEAR);
        if (target.ptr<float>() != out) throw fk::Failure(FK_ERR_INTERNAL, "resize did not write into the buffer");
    });
}

}  // extern "C"
