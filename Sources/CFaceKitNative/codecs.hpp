// Image decoding and encoding straight over libjpeg, libpng, libwebp and
// libtiff. opencv_imgcodecs would do the same, but on Debian it drags GDAL and
// ~130 shared libraries (~40 MB resident) into every process.
#pragma once

#include "internal.hpp"

#include <functional>
#include <memory>

namespace fk {

// Where a decoder may put its pixels, asked once the final size is known: a
// CV_8UC3 view of exactly rows x cols to write into (the interior of a
// reusable padded canvas). Asked only when the decoded rows are the image's
// final rows (no orientation to apply afterwards); otherwise the decoder
// keeps a buffer of its own and the caller copies.
using PixelTarget = std::function<cv::Mat(int rows, int cols)>;

// Memory kept between decodes for libjpeg's whole-image coefficient buffers
// (progressive and multi-scan JPEGs: two bytes per coefficient, ~42 MB for a
// 14-megapixel 4:2:0 photo, zeroed before each image). From malloc they were
// fresh pages for every image of a folder: 18k page faults while indexing the
// dataset, more than half of all. One per decode canvas; a decode uses it
// alone. It grows to the largest image seen up to kKept; a larger image's
// buffers are a mapping of their own, dropped once it is decoded, as the
// canvas does with a larger image's pixels, so that one huge photo does not
// pin its memory for the rest of a run.
struct CoefficientMemory {
    static constexpr size_t kKept = size_t(64) << 20;
    std::unique_ptr<ZeroMapping> mapping, oversized;
    // nullptr when the memory cannot be mapped (libjpeg then fails the
    // decode: no C++ exception may cross its frames).
    uint8_t *reserve(size_t bytes) noexcept {
        try {
            if (bytes > kKept) {
                oversized = std::make_unique<ZeroMapping>(bytes);
                return oversized->bytes();
            }
            if (!mapping || mapping->length < bytes) {
                mapping.reset();
                mapping = std::make_unique<ZeroMapping>(bytes);
            }
            return mapping->bytes();
        } catch (...) {
            return nullptr;
        }
    }
};

// Decodes exactly as OpenCV 4.6's cv::imdecode(buf, IMREAD_COLOR) does, pixel
// for pixel, since deepface reads images that way and every pixel moves the
// embeddings. format is the name fk_image_probe found ("jpeg", "png", "webp",
// "bmp" or "tiff"). Throws Failure(FK_ERR_DECODE) when the data is undecodable.
// target: see PixelTarget; the result's data shows whether it was used.
// coefficients: where a JPEG's coefficient buffers go (else libjpeg's malloc).
cv::Mat decode_image(const uint8_t *data, size_t length, const std::string &format,
                     const PixelTarget *target = nullptr, CoefficientMemory *coefficients = nullptr);

// Writes a BGR image as JPEG (quality 95) or PNG, chosen by the path's
// extension, with OpenCV's imwrite defaults. Throws Failure(FK_ERR_IO).
void write_image(const cv::Mat &bgr, const std::string &path);

}  // namespace fk
