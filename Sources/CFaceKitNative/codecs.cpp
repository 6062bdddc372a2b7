// Image codecs. The decoders reproduce OpenCV 4.6's imdecode(IMREAD_COLOR)
// down to its quirks (which EXIF it trusts, how it walks BMP RLE, which TIFF
// orientations it fixes), because matching deepface means matching cv2.imread
// pixel for pixel. The library calls and their order mirror OpenCV's, so the
// codec libraries themselves produce the same samples.
#include "codecs.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csetjmp>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <tiffio.h>
#include <webp/decode.h>
#include <zlib.h>

namespace fk {
namespace {

[[noreturn]] void undecodable(const std::string &format, const std::string &why) {
    throw Failure(FK_ERR_DECODE, "the " + format + " data could not be decoded: " + why);
}

// OpenCV's validateInputImageSize, which refuses these before reading pixels.
void check_size(const std::string &format, int64_t width, int64_t height) {
    if (width <= 0 || height <= 0 || width > (1 << 20) || height > (1 << 20) || width * height > (int64_t(1) << 30))
        undecodable(format, "a size of " + std::to_string(width) + "x" + std::to_string(height) +
                                " is beyond OpenCV's limits (1048576 per side, 2^30 pixels)");
}

// ------------------------------------------------------------------ EXIF

// The orientation OpenCV's ExifReader finds in a TIFF-structured EXIF block,
// or 1. Its quirks decide real files, so they are kept: only "II" means
// little-endian, IFD0 is walked entry by entry and the walk stops at the
// first read out of range (keeping what it had), the entries it knows read
// their payload (so a bad one ends the walk), and the first Orientation wins.
int exif_orientation(const uint8_t *p, size_t n) {
    if (!p || n == 0) return 1;
    const bool intel = p[0] == 'I' && (n == 1 || p[1] == 'I');
    struct OutOfRange {};
    auto u16 = [&](size_t at) -> uint32_t {
        if (at + 1 >= n) throw OutOfRange();
        return intel ? p[at] | p[at + 1] << 8 : p[at] << 8 | p[at + 1];
    };
    auto u32 = [&](size_t at) -> uint32_t {
        if (at + 3 >= n) throw OutOfRange();
        return intel ? uint32_t(p[at]) | uint32_t(p[at + 1]) << 8 | uint32_t(p[at + 2]) << 16 | uint32_t(p[at + 3]) << 24
                     : uint32_t(p[at]) << 24 | uint32_t(p[at + 1]) << 16 | uint32_t(p[at + 2]) << 8 | uint32_t(p[at + 3]);
    };
    auto rationals = [&](uint32_t entry, int count) {
        uint32_t at = u32(size_t(entry) + 8);
        for (int i = 0; i < count; ++i, at += 8) {
            u32(at);
            u32(size_t(at) + 4);
        }
    };
    int orientation = 1;
    bool found = false;
    try {
        if (u16(2) != 0x2A) return 1;
        uint32_t entry = u32(4);
        size_t count = u16(entry);
        entry += 2;
        for (size_t i = 0; i < count; ++i, entry += 12) {
            switch (u16(entry)) {
            case 0x0112:
                if (!found) orientation = int(u16(size_t(entry) + 8));
                found = true;
                break;
            case 0x010E: case 0x010F: case 0x0110: case 0x0131: case 0x0132: case 0x8298: {
                size_t size = u32(size_t(entry) + 4);
                size_t at = size > 4 ? u32(size_t(entry) + 8) : 8;
                if (at > n || at + size > n) throw OutOfRange();
                break;
            }
            case 0x011A: case 0x011B: rationals(entry, 1); break;
            case 0x013E: rationals(entry, 2); break;
            case 0x013F: case 0x0214: rationals(entry, 6); break;
            case 0x0211: rationals(entry, 3); break;
            case 0x0128: case 0x0213: u16(size_t(entry) + 8); break;
            default: break;
            }
        }
    } catch (const OutOfRange &) {
    }
    return orientation;
}

// OpenCV's ExifTransform; other values leave the image as it is.
void apply_orientation(cv::Mat &m, int orientation) {
    switch (orientation) {
    case 2: cv::flip(m, m, 1); break;
    case 3: cv::flip(m, m, -1); break;
    case 4: cv::flip(m, m, 0); break;
    case 5: cv::transpose(m, m); break;
    case 6: cv::transpose(m, m); cv::flip(m, m, 1); break;
    case 7: cv::transpose(m, m); cv::flip(m, m, -1); break;
    case 8: cv::transpose(m, m); cv::flip(m, m, 0); break;
    default: break;
    }
}

// ------------------------------------------------------------------ JPEG

struct JpegErrors {
    jpeg_error_mgr pub;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX] = "";
    void (*count_warning)(j_common_ptr, int) = nullptr;
    bool ran_out = false;
};

void jpeg_fail(j_common_ptr cinfo) {
    auto *errors = reinterpret_cast<JpegErrors *>(cinfo->err);
    cinfo->err->format_message(cinfo, errors->message);
    std::longjmp(errors->jump, 1);
}

// jpeg_mem_src pads data that ends too soon with an end-of-image marker and
// a warning. OpenCV's own source suspends instead, which fails the decode or
// leaves rows unwritten, so such data is refused rather than shown in grey.
void jpeg_warning(j_common_ptr cinfo, int level) {
    auto *errors = reinterpret_cast<JpegErrors *>(cinfo->err);
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) errors->ran_out = true;
    errors->count_warning(cinfo, level);
}

// Other warnings (corrupt data that libjpeg recovers from) stay counted, as
// they are inside OpenCV, but are not printed.
void jpeg_quiet(j_common_ptr) {}

template <typename Info>
void use_errors(Info &cinfo, JpegErrors &errors) {
    cinfo.err = jpeg_std_error(&errors.pub);
    errors.pub.error_exit = jpeg_fail;
    errors.count_warning = errors.pub.emit_message;
    errors.pub.emit_message = jpeg_warning;
    errors.pub.output_message = jpeg_quiet;
}

// libjpeg's coefficient buffers in a CoefficientMemory. libjpeg reaches its
// whole-image buffers only through the memory manager's virtual-array methods
// (request at setup, realize once all are requested, access per row band),
// which an application may replace; these replace the block-array ones.
// Every array lives in memory, as libjpeg's own manager keeps them without a
// backing store, with its checks; rows are zeroed up front where libjpeg
// zeroes them on first access (pre_zero), so what is read is the same.
struct VirtualBlocks {  // what a jvirt_barray_ptr points to here
    JBLOCKARRAY rows;
    JDIMENSION blocks_per_row, num_rows, max_access;
    boolean pre_zero;
    VirtualBlocks *next;
};

struct CoefficientManager {
    CoefficientMemory *memory;
    void (*realize_samples)(j_common_ptr);  // libjpeg's realize, for sample arrays
    VirtualBlocks *arrays = nullptr;
};

jvirt_barray_ptr request_blocks(j_common_ptr cinfo, int pool_id, boolean pre_zero, JDIMENSION blocks_per_row,
                                JDIMENSION num_rows, JDIMENSION max_access) {
    if (pool_id != JPOOL_IMAGE) ERREXIT1(cinfo, JERR_BAD_POOL_ID, pool_id);
    auto *manager = static_cast<CoefficientManager *>(cinfo->client_data);
    auto *array = static_cast<VirtualBlocks *>((*cinfo->mem->alloc_small)(cinfo, JPOOL_IMAGE, sizeof(VirtualBlocks)));
    *array = VirtualBlocks{nullptr, blocks_per_row, num_rows, max_access, pre_zero, manager->arrays};
    manager->arrays = array;
    return reinterpret_cast<jvirt_barray_ptr>(array);
}

void realize_blocks(j_common_ptr cinfo) {
    auto *manager = static_cast<CoefficientManager *>(cinfo->client_data);
    manager->realize_samples(cinfo);
    // Rows 64-byte aligned (a block is 128 bytes), as SIMD code may load them.
    auto row_bytes = [](const VirtualBlocks *a) { return (size_t(a->blocks_per_row) * sizeof(JBLOCK) + 63) / 64 * 64; };
    size_t total = 0;
    for (const VirtualBlocks *a = manager->arrays; a; a = a->next) total += row_bytes(a) * a->num_rows;
    if (total == 0) return;
    uint8_t *at = manager->memory->reserve(total);
    if (!at) ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 0);
    for (VirtualBlocks *a = manager->arrays; a; a = a->next) {
        const size_t bytes = row_bytes(a);
        a->rows = static_cast<JBLOCKARRAY>((*cinfo->mem->alloc_large)(cinfo, JPOOL_IMAGE, sizeof(JBLOCKROW) * a->num_rows));
        for (JDIMENSION r = 0; r < a->num_rows; ++r) a->rows[r] = reinterpret_cast<JBLOCKROW>(at + bytes * r);
        if (a->pre_zero) std::memset(at, 0, bytes * a->num_rows);
        at += bytes * a->num_rows;
    }
}

JBLOCKARRAY access_blocks(j_common_ptr cinfo, jvirt_barray_ptr ptr, JDIMENSION start_row, JDIMENSION num_rows,
                          boolean) {
    auto *array = reinterpret_cast<VirtualBlocks *>(ptr);
    if (!array->rows || start_row + num_rows > array->num_rows || num_rows > array->max_access)
        ERREXIT(cinfo, JERR_BAD_VIRTUAL_ACCESS);
    return array->rows + start_row;
}

cv::Mat decode_jpeg(const uint8_t *d, size_t n, int &orientation, const PixelTarget *target,
                    CoefficientMemory *coefficients) {
    // OpenCV only takes data starting FF D8 FF for JPEG.
    if (n < 3 || d[2] != 0xFF) undecodable("jpeg", "no marker follows the start of image");
    jpeg_decompress_struct cinfo{};
    JpegErrors errors;
    use_errors(cinfo, errors);
    struct Release {
        jpeg_decompress_struct *c;
        CoefficientMemory *coefficients;
        ~Release() {
            jpeg_destroy_decompress(c);
            if (coefficients) coefficients->oversized.reset();
        }
    } release{&cinfo, coefficients};
    cv::Mat out;
    std::vector<uint8_t> cmyk_row;
    if (setjmp(errors.jump)) undecodable("jpeg", errors.message);

    jpeg_create_decompress(&cinfo);
    CoefficientManager manager{coefficients, cinfo.mem->realize_virt_arrays};
    if (coefficients) {
        cinfo.client_data = &manager;
        cinfo.mem->request_virt_barray = request_blocks;
        cinfo.mem->realize_virt_arrays = realize_blocks;
        cinfo.mem->access_virt_barray = access_blocks;
    }
    jpeg_mem_src(&cinfo, d, static_cast<unsigned long>(n));
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);
    check_size("jpeg", cinfo.image_width, cinfo.image_height);
    // Four components (CMYK or YCCK) come out as CMYK and go through OpenCV's
    // own CMYK formula below; everything else libjpeg converts.
    const bool cmyk = cinfo.num_components == 4;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_EXT_BGR;
    // OpenCV reads EXIF from the first APP1 whatever it holds, past its
    // "Exif\0\0" header.
    if (cinfo.marker_list && cinfo.marker_list->data_length > 6)
        orientation = exif_orientation(cinfo.marker_list->data + 6, cinfo.marker_list->data_length - 6);

    jpeg_start_decompress(&cinfo);
    const int width = int(cinfo.output_width);
    // apply_orientation leaves 1 (and unknown values) as decoded.
    if (target && (orientation < 2 || orientation > 8)) out = (*target)(int(cinfo.output_height), width);
    if (out.rows != int(cinfo.output_height) || out.cols != width || out.type() != CV_8UC3)
        out.create(int(cinfo.output_height), width, CV_8UC3);
    if (cmyk) cmyk_row.resize(size_t(width) * 4);
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = out.ptr(int(cinfo.output_scanline));
        JSAMPROW row = cmyk ? cmyk_row.data() : dst;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1 || errors.ran_out) break;
        if (!cmyk) continue;
        for (int x = 0; x < width; ++x) {
            const uint8_t *s = &cmyk_row[size_t(x) * 4];
            int k = s[3];
            dst[3 * x + 0] = uint8_t(k - ((255 - s[2]) * k >> 8));
            dst[3 * x + 1] = uint8_t(k - ((255 - s[1]) * k >> 8));
            dst[3 * x + 2] = uint8_t(k - ((255 - s[0]) * k >> 8));
        }
    }
    if (errors.ran_out || cinfo.output_scanline < cinfo.output_height)
        throw Failure(FK_ERR_DECODE, "the jpeg data is truncated");
    // OpenCV ignores what jpeg_finish_decompress might still report once every
    // row is out, so the trailing data is not read at all.
    return out;
}

std::vector<uint8_t> encode_jpeg(const cv::Mat &bgr) {
    jpeg_compress_struct cinfo{};
    JpegErrors errors;
    use_errors(cinfo, errors);
    unsigned char *buffer = nullptr;
    unsigned long size = 0;
    struct Release {
        jpeg_compress_struct *c;
        unsigned char **buffer;
        ~Release() {
            jpeg_destroy_compress(c);
            std::free(*buffer);
        }
    } release{&cinfo, &buffer};
    if (setjmp(errors.jump)) throw Failure(FK_ERR_IO, std::string("could not encode the JPEG: ") + errors.message);

    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &buffer, &size);
    cinfo.image_width = JDIMENSION(bgr.cols);
    cinfo.image_height = JDIMENSION(bgr.rows);
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_EXT_BGR;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 95, TRUE);  // imwrite's default quality
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = const_cast<uint8_t *>(bgr.ptr(int(cinfo.next_scanline)));
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    return std::vector<uint8_t>(buffer, buffer + size);
}

// ------------------------------------------------------------------- PNG

struct PngErrors {
    char message[256] = "";
};

void png_fail(png_structp png, png_const_charp message) {
    auto *errors = static_cast<PngErrors *>(png_get_error_ptr(png));
    std::snprintf(errors->message, sizeof errors->message, "%s", message);
    png_longjmp(png, 1);
}

void png_quiet(png_structp, png_const_charp) {}

struct PngSource {
    const uint8_t *data;
    size_t size, pos;
};

void png_read_memory(png_structp png, png_bytep dst, size_t count) {
    auto *src = static_cast<PngSource *>(png_get_io_ptr(png));
    if (count > src->size - src->pos) png_error(png, "PNG input buffer is incomplete");
    std::memcpy(dst, src->data + src->pos, count);
    src->pos += count;
}

cv::Mat decode_png(const uint8_t *d, size_t n, int &orientation) {
    PngErrors errors;
    PngSource source{d, n, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &errors, png_fail, png_quiet);
    if (!png) throw std::bad_alloc();
    png_infop info = png_create_info_struct(png), end = png_create_info_struct(png);
    struct Release {
        png_structp png;
        png_infop info, end;
        ~Release() { png_destroy_read_struct(&png, &info, &end); }
    } release{png, info, end};
    if (!info || !end) throw std::bad_alloc();
    cv::Mat out;
    std::vector<png_bytep> rows;
    if (setjmp(png_jmpbuf(png))) undecodable("png", errors.message);

    png_set_read_fn(png, &source, png_read_memory);
    png_read_info(png, info);
    png_uint_32 width = 0, height = 0;
    int depth = 0, color = 0;
    png_get_IHDR(png, info, &width, &height, &depth, &color, nullptr, nullptr, nullptr);
    check_size("png", width, height);
    // OpenCV's transforms for an 8-bit 3-channel target: 16-bit keeps the high
    // byte, alpha (and tRNS) is dropped rather than blended.
    if (depth == 16) png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((color & PNG_COLOR_MASK_COLOR) == 0 && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (color & PNG_COLOR_MASK_COLOR)
        png_set_bgr(png);
    else
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != size_t(width) * 3) undecodable("png", "unexpected row layout");

    out.create(int(height), int(width), CV_8UC3);
    rows.resize(height);
    for (png_uint_32 y = 0; y < height; ++y) rows[y] = out.ptr(int(y));
    png_read_image(png, rows.data());
    png_read_end(png, end);
    // The eXIf chunk may come before or after the image data.
    png_uint_32 exif_size = 0;
    png_bytep exif = nullptr;
    if (png_get_valid(png, info, PNG_INFO_eXIf))
        png_get_eXIf_1(png, info, &exif_size, &exif);
    else if (png_get_valid(png, end, PNG_INFO_eXIf))
        png_get_eXIf_1(png, end, &exif_size, &exif);
    orientation = exif_orientation(exif, exif_size);
    return out;
}

// No exception may cross libpng's C frames, so running out of memory becomes
// a libpng error (raised outside the handler, as it jumps away).
void png_write_memory(png_structp png, png_bytep data, size_t count) {
    auto *sink = static_cast<std::vector<uint8_t> *>(png_get_io_ptr(png));
    bool stored = true;
    try {
        sink->insert(sink->end(), data, data + count);
    } catch (const std::bad_alloc &) {
        stored = false;
    }
    if (!stored) png_error(png, "out of memory");
}

void png_flush_nothing(png_structp) {}

std::vector<uint8_t> encode_png(const cv::Mat &bgr) {
    PngErrors errors;
    std::vector<uint8_t> bytes;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &errors, png_fail, png_quiet);
    if (!png) throw std::bad_alloc();
    png_infop info = png_create_info_struct(png);
    struct Release {
        png_structp png;
        png_infop info;
        ~Release() { png_destroy_write_struct(&png, &info); }
    } release{png, info};
    if (!info) throw std::bad_alloc();
    std::vector<png_bytep> rows(size_t(bgr.rows));
    for (int y = 0; y < bgr.rows; ++y) rows[size_t(y)] = const_cast<uint8_t *>(bgr.ptr(y));
    if (setjmp(png_jmpbuf(png))) throw Failure(FK_ERR_IO, std::string("could not encode the PNG: ") + errors.message);

    png_set_write_fn(png, &bytes, png_write_memory, png_flush_nothing);
    // imwrite's defaults, which favour speed over size.
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
    png_set_compression_level(png, Z_BEST_SPEED);
    png_set_compression_strategy(png, Z_RLE);
    png_set_IHDR(png, info, png_uint_32(bgr.cols), png_uint_32(bgr.rows), 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_set_bgr(png);
    png_write_image(png, rows.data());
    png_write_end(png, info);
    return bytes;
}

// ------------------------------------------------------------------ WebP

cv::Mat decode_webp(const uint8_t *d, size_t n) {
    // OpenCV reads the features from the first 32 bytes alone, and needs them.
    WebPBitstreamFeatures features;
    if (n < 32 || WebPGetFeatures(d, 32, &features) != VP8_STATUS_OK) undecodable("webp", "unreadable header");
    check_size("webp", features.width, features.height);
    cv::Mat out(features.height, features.width, CV_8UC3);
    if (!features.has_alpha) {
        if (!WebPDecodeBGRInto(d, n, out.data, out.total() * 3, int(out.step)))
            undecodable("webp", "the decoder rejected the data");
        return out;
    }
    // With alpha, OpenCV decodes BGRA and drops the alpha.
    cv::Mat bgra(features.height, features.width, CV_8UC4);
    if (!WebPDecodeBGRAInto(d, n, bgra.data, bgra.total() * 4, int(bgra.step)))
        undecodable("webp", "the decoder rejected the data");
    for (int y = 0; y < out.rows; ++y) {
        const uint8_t *s = bgra.ptr(y);
        uint8_t *t = out.ptr(y);
        for (int x = 0; x < out.cols; ++x, s += 4, t += 3) std::memcpy(t, s, 3);
    }
    return out;
}

// ------------------------------------------------------------------- BMP

struct Bgr {
    uint8_t b, g, r;
};

// Little-endian reads over the buffer. As with OpenCV's stream, a read past
// the end fails the decode, while skips and seeks alone do not.
class BmpReader {
public:
    BmpReader(const uint8_t *data, size_t size) : data_(data), size_(size) {}
    void seek(size_t pos) { pos_ = pos; }
    void skip(size_t count) { pos_ += count; }
    void bytes(uint8_t *dst, size_t count) {
        need(count);
        std::memcpy(dst, data_ + pos_, count);
        pos_ += count;
    }
    uint32_t u8() {
        need(1);
        return data_[pos_++];
    }
    uint32_t u16() {
        uint32_t lo = u8();
        return lo | u8() << 8;
    }
    uint32_t u32() {
        uint32_t lo = u16();
        return lo | u16() << 16;
    }

private:
    void need(size_t count) const {
        if (pos_ > size_ || count > size_ - pos_) throw Failure(FK_ERR_DECODE, "the bmp data is truncated");
    }
    const uint8_t *data_;
    size_t size_, pos_ = 0;
};

enum BmpCompression { BMP_RGB = 0, BMP_RLE8 = 1, BMP_RLE4 = 2, BMP_BITFIELDS = 3 };

// Writes decoded pixels in file order, mapping file rows to image rows.
struct BmpCursor {
    cv::Mat &out;
    bool bottom_up;
    int x = 0, y = 0;
    void put(Bgr c) {
        uint8_t *p = out.ptr(bottom_up ? out.rows - 1 - y : y) + 3 * x++;
        p[0] = c.b;
        p[1] = c.g;
        p[2] = c.r;
    }
    // Paints count pixels, running on into the next lines (OpenCV's
    // FillUniColor: even a count of 0 moves on from a finished line).
    void fill(int64_t count, Bgr c) {
        do {
            int64_t k = std::min<int64_t>(count, out.cols - x);
            for (int64_t i = 0; i < k; ++i) put(c);
            count -= k;
            if (x >= out.cols) {
                x = 0;
                if (++y >= out.rows) break;
            }
        } while (count > 0);
    }
    bool done() const { return y >= out.rows; }
};

// RLE as OpenCV walks it: a run may not cross the end of a line, skipped
// pixels take palette entry 0, and the data must carry on until the last line
// is reached. RLE4 ignores the vertical part of a delta and treats
// end-of-bitmap like end-of-line.
void bmp_rle4(BmpReader &s, BmpCursor &c, const Bgr *palette, std::vector<uint8_t> &buf) {
    const int width = c.out.cols;
    for (;;) {
        int len = int(s.u8()), code = int(s.u8());
        if (len) {
            if (c.x + len > width) undecodable("bmp", "an RLE run crosses the end of a line");
            const Bgr pair[2] = {palette[code >> 4], palette[code & 15]};
            for (int i = 0; i < len; ++i) c.put(pair[i & 1]);
        } else if (code > 2) {
            if (c.x + code > width) undecodable("bmp", "an RLE run crosses the end of a line");
            s.bytes(buf.data(), size_t((((code + 1) >> 1) + 1) & ~1));
            for (int i = 0; i < code; ++i) c.put(palette[i & 1 ? buf[size_t(i / 2)] & 15 : buf[size_t(i / 2)] >> 4]);
        } else {
            int64_t skip = width - c.x;
            if (code == 2) {
                skip = s.u8();
                s.u8();
            }
            c.fill(skip, palette[0]);
            if (c.done()) return;
        }
    }
}

// RLE8 honours both parts of a delta and end-of-bitmap, but ignores an
// end-of-line that directly follows a run which itself ended the line.
void bmp_rle8(BmpReader &s, BmpCursor &c, const Bgr *palette, std::vector<uint8_t> &buf) {
    const int width = c.out.cols;
    bool wrapped = false;
    for (;;) {
        int len = int(s.u8()), code = int(s.u8());
        if (len) {
            if (c.x + len > width) undecodable("bmp", "an RLE run crosses the end of a line");
            int line = c.y;
            c.fill(len, palette[code]);
            wrapped = c.y != line;
            if (c.done()) return;
        } else if (code > 2) {
            if (c.x + code > width) undecodable("bmp", "an RLE run crosses the end of a line");
            s.bytes(buf.data(), size_t((code + 1) & ~1));
            for (int i = 0; i < code; ++i) c.put(palette[buf[size_t(i)]]);
            wrapped = false;
        } else {
            if (code || !wrapped || c.x > 0) {
                int64_t skip = width - c.x, lines = c.out.rows - c.y;
                if (code == 2) {
                    skip = s.u8();
                    lines = s.u8();
                }
                if (code) skip += lines * width;
                c.fill(skip, palette[0]);
                if (c.done()) return;
            }
            wrapped = false;
        }
    }
}

cv::Mat decode_bmp(const uint8_t *d, size_t n) {
    BmpReader s(d, n);
    s.skip(10);
    const int32_t offset = int32_t(s.u32());
    const int32_t header = int32_t(s.u32());
    int32_t width = 0, height = 0, bpp = 0;
    int32_t compression = BMP_RGB;
    Bgr palette[256] = {};
    if (header >= 36) {
        width = int32_t(s.u32());
        height = int32_t(s.u32());
        bpp = int32_t(s.u32()) >> 16;
        compression = int32_t(s.u32());
        if (compression < BMP_RGB || compression > BMP_BITFIELDS) undecodable("bmp", "unknown compression");
        s.skip(12);
        const int32_t colors = int32_t(s.u32());
        if (bpp == 32 && compression == BMP_BITFIELDS && header >= 56) {
            // OpenCV reads the channel masks (only a 4-channel read uses them).
            s.skip(4);
            for (int i = 0; i < 4; ++i) s.u32();
            s.skip(size_t(header - 56));
        } else {
            s.skip(size_t(header - 36));
        }
        const bool plain = bpp == 1 || bpp == 4 || bpp == 8 || bpp == 24 || bpp == 32;
        const bool ok = width > 0 && height != 0 &&
                        ((plain && compression == BMP_RGB) ||
                         ((bpp == 16 || bpp == 32) && (compression == BMP_RGB || compression == BMP_BITFIELDS)) ||
                         (bpp == 4 && compression == BMP_RLE4) || (bpp == 8 && compression == BMP_RLE8));
        if (!ok) undecodable("bmp", "unsupported size, bit depth or compression");
        if (bpp <= 8) {
            if (colors < 0 || colors > 256) undecodable("bmp", "bad palette size");
            uint8_t raw[256 * 4];
            const size_t count = colors ? size_t(colors) : size_t(1) << bpp;
            s.bytes(raw, count * 4);
            for (size_t i = 0; i < count; ++i) palette[i] = {raw[4 * i], raw[4 * i + 1], raw[4 * i + 2]};
        } else if (bpp == 16 && compression == BMP_BITFIELDS) {
            const uint32_t red = s.u32(), green = s.u32(), blue = s.u32();
            if (blue == 0x1F && green == 0x3E0 && red == 0x7C00)
                bpp = 15;
            else if (!(blue == 0x1F && green == 0x7E0 && red == 0xF800))
                undecodable("bmp", "unsupported 16-bit channel masks");
        } else if (bpp == 16) {
            bpp = 15;
        }
    } else if (header == 12) {
        width = int32_t(s.u16());
        height = int32_t(s.u16());
        bpp = int32_t(s.u32()) >> 16;
        if (width <= 0 || height == 0 || !(bpp == 1 || bpp == 4 || bpp == 8 || bpp == 24 || bpp == 32))
            undecodable("bmp", "unsupported size or bit depth");
        if (bpp <= 8) {
            uint8_t raw[256 * 3];
            const size_t count = size_t(1) << bpp;
            s.bytes(raw, count * 3);
            for (size_t i = 0; i < count; ++i) palette[i] = {raw[3 * i], raw[3 * i + 1], raw[3 * i + 2]};
        }
    } else {
        undecodable("bmp", "unsupported header");
    }

    const bool bottom_up = height > 0;
    const int64_t rows = std::abs(int64_t(height));
    check_size("bmp", width, rows);
    if (rows * width * 3 >= (int64_t(1) << 30)) undecodable("bmp", "OpenCV reads no BMP of 1 GB or more");
    if (offset < 0) undecodable("bmp", "bad pixel data offset");
    const int pitch = ((width * (bpp != 15 ? bpp : 16) + 7) / 8 + 3) & -4;
    cv::Mat out(int(rows), width, CV_8UC3);
    std::vector<uint8_t> src(size_t(pitch) + 32);
    BmpCursor cursor{out, bottom_up};
    s.seek(size_t(offset));
    if (compression == BMP_RLE4) {
        bmp_rle4(s, cursor, palette, src);
        return out;
    }
    if (compression == BMP_RLE8) {
        bmp_rle8(s, cursor, palette, src);
        return out;
    }
    for (int y = 0; y < out.rows; ++y) {
        s.bytes(src.data(), size_t(pitch));
        uint8_t *dst = out.ptr(bottom_up ? out.rows - 1 - y : y);
        const uint8_t *p = src.data();
        for (int x = 0; x < width; ++x, dst += 3) {
            Bgr c;
            switch (bpp) {
            case 1: c = palette[(p[x >> 3] >> (7 - (x & 7))) & 1]; break;
            case 4: c = palette[x & 1 ? p[x >> 1] & 15 : p[x >> 1] >> 4]; break;
            case 8: c = palette[p[x]]; break;
            case 15: {
                const uint32_t v = p[2 * x] | p[2 * x + 1] << 8;
                c = {uint8_t(v << 3 & 0xF8), uint8_t(v >> 2 & 0xF8), uint8_t(v >> 7 & 0xF8)};
                break;
            }
            case 16: {
                const uint32_t v = p[2 * x] | p[2 * x + 1] << 8;
                c = {uint8_t(v << 3 & 0xF8), uint8_t(v >> 3 & 0xFC), uint8_t(v >> 8 & 0xF8)};
                break;
            }
            case 24: c = {p[3 * x], p[3 * x + 1], p[3 * x + 2]}; break;
            default: c = {p[4 * x], p[4 * x + 1], p[4 * x + 2]}; break;  // 32-bit: alpha dropped
            }
            dst[0] = c.b;
            dst[1] = c.g;
            dst[2] = c.r;
        }
    }
    return out;
}

// ------------------------------------------------------------------ TIFF

struct TiffSource {
    const uint8_t *data;
    toff_t size, pos;
    char message[256];
};

tmsize_t tiff_read(thandle_t handle, void *dst, tmsize_t count) {
    auto *src = static_cast<TiffSource *>(handle);
    count = std::min<tmsize_t>(count, tmsize_t(src->size - src->pos));
    std::memcpy(dst, src->data + src->pos, size_t(count));
    src->pos += toff_t(count);
    return count;
}

tmsize_t tiff_write(thandle_t, void *, tmsize_t) { return 0; }

toff_t tiff_seek(thandle_t handle, toff_t offset, int whence) {
    auto *src = static_cast<TiffSource *>(handle);
    toff_t pos = whence == SEEK_SET ? offset : whence == SEEK_CUR ? src->pos + offset : src->size + offset;
    src->pos = std::min(pos, src->size);
    return src->pos;
}

int tiff_close(thandle_t) { return 0; }

toff_t tiff_size(thandle_t handle) { return static_cast<TiffSource *>(handle)->size; }

int tiff_error(TIFF *, void *user, const char *module, const char *fmt, va_list ap) {
    auto *src = static_cast<TiffSource *>(user);
    char text[200];
    std::vsnprintf(text, sizeof text, fmt, ap);
    std::snprintf(src->message, sizeof src->message, "%s%s%s", module ? module : "", module ? ": " : "", text);
    return 1;
}

int tiff_quiet(TIFF *, void *, const char *, const char *, va_list) { return 1; }

cv::Mat decode_tiff(const uint8_t *d, size_t n) {
    TiffSource source{d, n, 0, ""};
    std::unique_ptr<TIFFOpenOptions, void (*)(TIFFOpenOptions *)> options(TIFFOpenOptionsAlloc(), TIFFOpenOptionsFree);
    if (!options) throw std::bad_alloc();
    TIFFOpenOptionsSetErrorHandlerExtR(options.get(), tiff_error, &source);
    TIFFOpenOptionsSetWarningHandlerExtR(options.get(), tiff_quiet, nullptr);
    std::unique_ptr<TIFF, void (*)(TIFF *)> handle(
        TIFFClientOpenExt("memory", "r", &source, tiff_read, tiff_write, tiff_seek, tiff_close, tiff_size, nullptr,
                          nullptr, options.get()),
        TIFFClose);
    auto fail = [&](const std::string &why) {
        undecodable("tiff", *source.message ? why + " (" + source.message + ")" : why);
    };
    if (!handle) fail("unreadable header");
    TIFF *tif = handle.get();

    // OpenCV's TiffDecoder::readHeader: which layouts it takes at all.
    uint32_t width = 0, height = 0;
    uint16_t photometric = 0;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &width) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &height) ||
        !TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric))
        fail("no width, height or photometric interpretation");
    const bool grey = photometric == PHOTOMETRIC_MINISWHITE || photometric == PHOTOMETRIC_MINISBLACK;
    uint16_t bpp = 8, channels = grey ? 1 : 3;
    if (!TIFFGetField(tif, TIFFTAG_BITSPERSAMPLE, &bpp)) bpp = 1;
    TIFFGetField(tif, TIFFTAG_SAMPLESPERPIXEL, &channels);
    if (!(channels == 3 && photometric == PHOTOMETRIC_LOGLUV)) {
        const int depth = bpp > 8 && (photometric > 2 || (channels != 1 && channels != 3 && channels != 4)) ? 8 : bpp;
        uint16_t sample_format = SAMPLEFORMAT_UINT;
        TIFFGetField(tif, TIFFTAG_SAMPLEFORMAT, &sample_format);
        const bool integer = sample_format == SAMPLEFORMAT_UINT || sample_format == SAMPLEFORMAT_INT;
        bool supported = false;
        switch (depth) {
        case 1: case 8: case 10: case 12: case 14: case 16: supported = integer; break;
        case 32: supported = sample_format == SAMPLEFORMAT_IEEEFP || sample_format == SAMPLEFORMAT_INT; break;
        case 64: supported = sample_format == SAMPLEFORMAT_IEEEFP; break;
        default: break;
        }
        if (channels < 1 || channels > 4 || !supported)
            fail(std::to_string(channels) + " samples of " + std::to_string(bpp) + " bits are not supported");
    }
    check_size("tiff", int32_t(width), int32_t(height));

    // OpenCV's readData for an 8-bit target: libtiff's RGBA interface, strip
    // by strip or tile by tile, then its partial orientation fix-up.
    char message[1024] = "";
    if (!TIFFRGBAImageOK(tif, message)) undecodable("tiff", message);
    uint16_t orientation = ORIENTATION_TOPLEFT;
    TIFFGetField(tif, TIFFTAG_ORIENTATION, &orientation);
    const bool tiled = TIFFIsTiled(tif) != 0;
    uint32_t tile_width = width, tile_height = 0;
    if (tiled) {
        if (!TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tile_width) || !TIFFGetField(tif, TIFFTAG_TILELENGTH, &tile_height))
            fail("a tiled image without tile sizes");
    } else {
        TIFFGetField(tif, TIFFTAG_ROWSPERSTRIP, &tile_height);
    }
    if (tile_width == 0) tile_width = width;
    if (tile_height == 0 || (!tiled && tile_height == UINT32_MAX)) tile_height = height;
    if (int(tile_width) <= 0 || int(tile_width) > (1 << 24) || int(tile_height) <= 0 || int(tile_height) > (1 << 24) ||
        channels > 4 || bpp > 64 ||
        uint64_t(tile_width) * tile_height * channels * uint64_t(std::max(1, bpp / 8)) >= (uint64_t(1) << 30))
        fail("bad strip or tile size");

    const int rows = int(height), cols = int(width);
    const int strip_rows = int(tile_height), strip_cols = int(tile_width);
    cv::Mat out(rows, cols, CV_8UC3);
    std::vector<uint32_t> raster(size_t(tile_width) * tile_height);
    // The RGBA reads already undo a bottom-up orientation within each strip;
    // the strips themselves are then laid out from the bottom.
    const bool bottom_up = orientation == ORIENTATION_BOTRIGHT || orientation == ORIENTATION_RIGHTBOT ||
                           orientation == ORIENTATION_BOTLEFT || orientation == ORIENTATION_LEFTBOT;
    for (int y = 0; y < rows; y += strip_rows) {
        const int h = std::min(strip_rows, rows - y);
        const int top = bottom_up ? rows - y - h : y;
        for (int x = 0; x < cols; x += strip_cols) {
            const int w = std::min(strip_cols, cols - x);
            const uint32_t *start = raster.data();
            if (!tiled) {
                if (!TIFFReadRGBAStrip(tif, uint32_t(y), raster.data())) fail("unreadable strip");
            } else {
                if (!TIFFReadRGBATile(tif, uint32_t(x), uint32_t(y), raster.data())) fail("unreadable tile");
                start += size_t(strip_rows - h) * tile_width;  // tiles fill the raster from the bottom
            }
            for (int i = 0; i < h; ++i) {
                const uint32_t *s = start + size_t(i) * tile_width;
                uint8_t *t = out.ptr(top + h - i - 1) + 3 * x;
                for (int k = 0; k < w; ++k, t += 3) {
                    t[0] = uint8_t(TIFFGetB(s[k]));
                    t[1] = uint8_t(TIFFGetG(s[k]));
                    t[2] = uint8_t(TIFFGetR(s[k]));
                }
            }
        }
    }
    switch (orientation) {
    case ORIENTATION_RIGHTTOP:
    case ORIENTATION_LEFTBOT:
        cv::flip(out, out, -1);
        [[fallthrough]];
    case ORIENTATION_LEFTTOP:
    case ORIENTATION_RIGHTBOT:
        cv::transpose(out, out);
        break;
    default:
        break;
    }
    return out;
}

// --------------------------------------------------------------- writing

void write_file(const std::string &path, const std::vector<uint8_t> &bytes) {
    FILE *f = std::fopen(path.c_str(), "wb");
    if (!f) throw Failure(FK_ERR_IO, "cannot write " + path + ": " + std::strerror(errno));
    bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    int error = errno;
    if (std::fclose(f) != 0 && ok) {
        ok = false;
        error = errno;
    }
    if (!ok) {
        std::remove(path.c_str());
        throw Failure(FK_ERR_IO, "cannot write " + path + ": " + std::strerror(error));
    }
}

}  // namespace

cv::Mat decode_image(const uint8_t *data, size_t length, const std::string &format, const PixelTarget *target,
                     CoefficientMemory *coefficients) {
    cv::Mat image;
    int orientation = 1;  // only JPEG and PNG carry EXIF that OpenCV applies
    // Only the JPEG decoder writes into a target: JPEG is the format of
    // nearly every photo indexed, and the others are copied by the caller.
    if (format == "jpeg")
        image = decode_jpeg(data, length, orientation, target, coefficients);
    else if (format == "png")
        image = decode_png(data, length, orientation);
    else if (format == "webp")
        image = decode_webp(data, length);
    else if (format == "bmp")
        image = decode_bmp(data, length);
    else if (format == "tiff")
        image = decode_tiff(data, length);
    else
        throw Failure(FK_ERR_DECODE, "no decoder for " + format);
    apply_orientation(image, orientation);
    return image;
}

void write_image(const cv::Mat &bgr, const std::string &path) {
    if (bgr.empty() || bgr.type() != CV_8UC3) throw Failure(FK_ERR_IO, "cannot write " + path + ": not a BGR image");
    const size_t slash = path.find_last_of('/'), dot = path.find_last_of('.');
    std::string extension = dot == std::string::npos || (slash != std::string::npos && dot < slash) ? "" : path.substr(dot + 1);
    std::transform(extension.begin(), extension.end(), extension.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    if (extension == "jpg" || extension == "jpeg")
        write_file(path, encode_jpeg(bgr));
    else if (extension == "png")
        write_file(path, encode_png(bgr));
    else
        throw Failure(FK_ERR_IO, "cannot write " + path + ": only .jpg, .jpeg and .png images can be written");
}

}  // namespace fk
