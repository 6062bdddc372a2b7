// Image decoding with a size check that runs before any pixel is allocated,
// plus the small drawing and copying helpers the Swift side needs.
#include "codecs.hpp"
#include "internal.hpp"

#include <algorithm>
#include <opencv2/imgproc.hpp>

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
            size_t start = i + 2 + len;
            bool eoi = false;
            for (size_t k = start; k + 1 < n; ++k)
                if (d[k] == 0xFF && d[k + 1] == 0xD9) { eoi = true; break; }
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

}  // namespace

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
        // Like deepface's cv2.imread: EXIF orientation applied, grey, 16-bit
        // and alpha images brought to 8-bit BGR.
        *out = wrap(fk::decode_image(data, length, p.format));
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
int32_t fk_image_width(const fk_image *image) { return image ? image->mat.cols : 0; }
int32_t fk_image_height(const fk_image *image) { return image ? image->mat.rows : 0; }

fk_status fk_image_copy_bgr(const fk_image *image, uint8_t *buf, size_t capacity, fk_error *error) {
    return fk::guarded(error, FK_ERR_INVALID_ARGUMENT, [&] {
        const cv::Mat &m = image->mat;
        size_t row = size_t(m.cols) * 3;
        if (capacity < row * m.rows) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "buffer too small");
        for (int r = 0; r < m.rows; ++r) std::memcpy(buf + r * row, m.ptr(r), row);
    });
}

fk_status fk_image_write(const fk_image *image, const char *path, fk_error *error) {
    return fk::guarded(error, FK_ERR_IO, [&] {
        fk::write_image(image->mat, path);
    });
}

fk_status fk_image_draw_face(fk_image *image, int32_t x, int32_t y, int32_t w, int32_t h,
                             const float *points, int32_t point_count, const char *label,
                             fk_error *error) {
    return fk::guarded(error, FK_ERR_INTERNAL, [&] {
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
        const cv::Mat &src = image->mat;
        if (src.empty()) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "empty face crop");
        if (width <= 0 || height <= 0) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "target size must be positive");
        const int channels = gray ? 1 : 3;
        if (capacity < size_t(width) * size_t(height) * size_t(channels))
            throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "output buffer too small");
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
