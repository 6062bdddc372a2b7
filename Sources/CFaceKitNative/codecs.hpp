// Image decoding and encoding straight over libjpeg, libpng, libwebp and
// libtiff. opencv_imgcodecs would do the same, but on Debian it drags GDAL and
// ~130 shared libraries (~40 MB resident) into every process.
#pragma once

#include "internal.hpp"

namespace fk {

// Decodes exactly as OpenCV 4.6's cv::imdecode(buf, IMREAD_COLOR) does, pixel
// for pixel, since deepface reads images that way and every pixel moves the
// embeddings. format is the name fk_image_probe found ("jpeg", "png", "webp",
// "bmp" or "tiff"). Throws Failure(FK_ERR_DECODE) when the data is undecodable.
cv::Mat decode_image(const uint8_t *data, size_t length, const std::string &format);

// Writes a BGR image as JPEG (quality 95) or PNG, chosen by the path's
// extension, with OpenCV's imwrite defaults. Throws Failure(FK_ERR_IO).
void write_image(const cv::Mat &bgr, const std::string &path);

}  // namespace fk
