// Face crops as each recognition model expects them.
//
// fk_align_deepface follows deepface 0.0.103's extract_face step by step
// (margin sub-image, rotation about its centre, projected box, integer
// truncations included), because the embeddings, and so the decisions, move
// with every pixel of the crop.
#include "internal.hpp"

#include <cmath>
#include <numeric>
#include <opencv2/imgproc.hpp>

namespace {

// deepface's extract_sub_image: the face box with a 50% margin on each side,
// filled with black where it leaves the image. Kept as the part inside the
// image and where it sits (`at_x`, `at_y`) in the rows x cols sub-image:
// the rotation reads black outside that part anyway (a constant border), so
// it never needs the black written; a 1000 x 1000 face near an edge made a
// fresh 2000 x 2000 black image for every crop.
struct SubImage {
    cv::Mat inside;  // may be empty: the box lies wholly outside the image
    int at_x = 0, at_y = 0, rows = 0, cols = 0;

    // The sub-image itself, black included (for the paths that slice it).
    cv::Mat whole() const {
        if (!inside.empty() && at_x == 0 && at_y == 0 && inside.rows == rows && inside.cols == cols) return inside;
        cv::Mat out = cv::Mat::zeros(rows, cols, CV_8UC3);
        if (!inside.empty()) inside.copyTo(out(cv::Rect(at_x, at_y, inside.cols, inside.rows)));
        return out;
    }
};

SubImage sub_image(const cv::Mat &img, int x, int y, int w, int h, int &rel_x, int &rel_y) {
    rel_x = int(0.5 * w);
    rel_y = int(0.5 * h);
    SubImage sub;
    sub.rows = h + 2 * rel_y;
    sub.cols = w + 2 * rel_x;
    const int x1 = x - rel_x, y1 = y - rel_y;
    const int cx1 = std::max(0, x1), cy1 = std::max(0, y1);
    const int cx2 = std::min(img.cols, x + w + rel_x), cy2 = std::min(img.rows, y + h + rel_y);
    if (cx2 > cx1 && cy2 > cy1) {
        // A fresh header over the same pixels, not a ROI: OpenCV lets some
        // operations read past a ROI into its parent, while deepface's numpy
        // slice ends at its edges, so the rotation must see black there.
        cv::Mat roi = img(cv::Rect(cx1, cy1, cx2 - cx1, cy2 - cy1));
        sub.inside = cv::Mat(roi.rows, roi.cols, roi.type(), roi.data, roi.step);
        sub.at_x = cx1 - x1;
        sub.at_y = cy1 - y1;
    }
    return sub;
}

// deepface's project_facial_area: where the box centre goes after rotating
// the sub-image by angle degrees about its centre.
void project(int x1, int y1, int x2, int y2, double angle, int height, int width, int out[4]) {
    int direction = angle >= 0 ? 1 : -1;
    angle = std::fmod(std::abs(angle), 360.0);
    if (angle == 0) {
        out[0] = x1; out[1] = y1; out[2] = x2; out[3] = y2;
        return;
    }
    double a = angle * M_PI / 180.0;
    double x = (x1 + x2) / 2.0 - width / 2.0;
    double y = (y1 + y2) / 2.0 - height / 2.0;
    double xn = x * std::cos(a) + y * direction * std::sin(a) + width / 2.0;
    double yn = -x * direction * std::sin(a) + y * std::cos(a) + height / 2.0;
    double hw = (x2 - x1) / 2.0, hh = (y2 - y1) / 2.0;
    out[0] = std::max(int(xn - hw), 0);
    out[1] = std::max(int(yn - hh), 0);
    out[2] = std::min(int(xn + hw), width);
    out[3] = std::min(int(yn + hh), height);
}

// numpy-style slice: clamps to the image, may be empty.
cv::Mat slice(const cv::Mat &m, int x1, int y1, int x2, int y2) {
    x1 = std::clamp(x1, 0, m.cols); x2 = std::clamp(x2, 0, m.cols);
    y1 = std::clamp(y1, 0, m.rows); y2 = std::clamp(y2, 0, m.rows);
    if (x2 <= x1 || y2 <= y1) return cv::Mat();
    return m(cv::Rect(x1, y1, x2 - x1, y2 - y1));
}

// deepface rotates the whole margin sub-image and then keeps only the box
// rows [y1, y2). Computing just those rows is the same warp: OpenCV inverts
// the matrix and maps each destination pixel independently, so the inverse
// below (OpenCV's own arithmetic) with its row offset folded into the
// translation gives the same source coordinates, at a fraction of the cost.
cv::Mat rotation_rows_matrix(int rows, int cols, double angle, int y1) {
    cv::Point2f centre(float(cols / 2), float(rows / 2));
    cv::Mat M = cv::getRotationMatrix2D(centre, angle, 1.0);
    double *m = M.ptr<double>();
    double D = m[0] * m[4] - m[1] * m[3];
    D = D != 0 ? 1. / D : 0;
    double a11 = m[4] * D, a22 = m[0] * D;
    m[0] = a11; m[1] *= -D; m[3] *= -D; m[4] = a22;
    double b1 = -m[0] * m[2] - m[1] * m[5];
    double b2 = -m[3] * m[2] - m[4] * m[5];
    m[2] = b1 + m[1] * y1;
    m[5] = b2 + m[4] * y1;
    return M;
}

// The source indices a linear resize from `src` to `dst` samples reads along
// one axis (unit_resize below, which is OpenCV's): for output i the tap
// s = linear_tap(i) clamped into the source and the one after it (also
// clamped), read even where its weight is 0.
std::vector<uint8_t> resize_taps(int src, int dst) {
    std::vector<uint8_t> need(size_t(src), 0);
    const double scale = 1. / (double(dst) / src);
    for (int i = 0; i < dst; ++i) {
        const int a = std::clamp(fk::linear_tap(i, scale).s, 0, src - 1);
        need[size_t(a)] = 1;
        need[size_t(std::min(a + 1, src - 1))] = 1;
    }
    return need;
}

// The pixels of a rows x cols crop that fk_preprocess_fit (from [0, 1]
// floats) reads for each target: deepface's resize_image scales by
// min(th / rows, tw / cols), truncating the new size.
struct FitReads {
    bool all = false;
    std::vector<int> rows, cols;  // when not all
};

FitReads fit_reads(int rows, int cols, const int32_t *fits, int count) {
    FitReads r;
    std::vector<uint8_t> row_mask(size_t(rows), 0), col_mask(size_t(cols), 0);
    for (int i = 0; i < count; ++i) {
        const int tw = fits[2 * i], th = fits[2 * i + 1];
        const double factor = std::min(double(th) / rows, double(tw) / cols);
        const int nw = int(cols * factor), nh = int(rows * factor);
        if (nw <= 0 || nh <= 0) continue;  // nothing read: a black target
        if (fk::area_resize(cols, rows, nw, nh)) {  // reads every pixel
            r.all = true;
            return r;
        }
        const auto tr = resize_taps(rows, nh), tc = resize_taps(cols, nw);
        for (int k = 0; k < rows; ++k) row_mask[size_t(k)] |= tr[size_t(k)];
        for (int k = 0; k < cols; ++k) col_mask[size_t(k)] |= tc[size_t(k)];
    }
    for (int k = 0; k < rows; ++k)
        if (row_mask[size_t(k)]) r.rows.push_back(k);
    for (int k = 0; k < cols; ++k)
        if (col_mask[size_t(k)]) r.cols.push_back(k);
    return r;
}

// The rotated box: rows [y1, y2) and columns [x1, x2) of the rotated
// sub-image. Rows and columns outside the box are never computed: OpenCV
// 4.6's warpAffine (WarpAffineInvoker, INTER_CUBIC) turns each destination
// pixel (x, y) into fixed-point source coordinates
//   X = (round((M1 * y + M2) * 1024) + 16 + round(M0 * x * 1024)) >> 5
// (Y likewise with M3, M4, M5), then remaps with them; the same maps, built
// here for the box's columns only and remapped, give the same pixels. The
// box's columns could not be had from warpAffine itself: a narrower output
// keeps the columns from 0, and moving x1 into the translation would round
// differently. A test compares this with warpAffine over the full width.
//
// With fits, only the pixels those fits read are computed (each pixel is
// remapped on its own, so they are the same), and only those are kept:
// `partial` receives their rows and columns (fk_image::fit_rows, fit_cols).
// A 1000 x 1000 face fitted to 112 x 112 reads about 450 of its rows and
// columns, so a fifth of the pixels; the cubic remap was ~13% of indexing a
// folder, and writing the rest black a fresh 3 MB per face.
//
// The remap reads the sub-image's part inside the image, with the
// coordinates moved by where it sits: its constant border gives the black
// around it, and as each output is an integer sum of its 16 taps, taps that
// read border add nothing either way.
struct PartialCrop {
    bool partial = false;
    std::vector<int32_t> rows, cols;  // fk_image::fit_rows, fit_cols
};

cv::Mat rotated_box(const SubImage &sub, double angle, int y1, int y2, int x1, int x2, const int32_t *fits = nullptr,
                    int fit_count = 0, PartialCrop *partial = nullptr) {
    y1 = std::clamp(y1, 0, sub.rows);
    y2 = std::clamp(y2, 0, sub.rows);
    x2 = std::clamp(x2, 0, sub.cols);
    x1 = std::clamp(x1, 0, x2);
    if (y2 <= y1 || x2 <= x1) return cv::Mat();
    const cv::Mat matrix = rotation_rows_matrix(sub.rows, sub.cols, angle, y1);
    const double *M = matrix.ptr<double>();
    constexpr int kABBits = 10, kABScale = 1 << kABBits, kInterBits = 5, kTab = 1 << kInterBits;
    constexpr int kRoundDelta = kABScale / kTab / 2;
    const int rows = y2 - y1, cols = x2 - x1;
    FitReads reads;
    reads.all = !fits;
    if (fits) reads = fit_reads(rows, cols, fits, fit_count);
    if (reads.all) {
        reads.rows.resize(size_t(rows));
        reads.cols.resize(size_t(cols));
        std::iota(reads.rows.begin(), reads.rows.end(), 0);
        std::iota(reads.cols.begin(), reads.cols.end(), 0);
    }
    if (partial) partial->partial = !reads.all;
    const int nr = int(reads.rows.size()), nc = int(reads.cols.size());
    if (nr == 0 || nc == 0 || sub.inside.empty()) return cv::Mat::zeros(rows, cols, CV_8UC3);
    std::vector<int> adelta(static_cast<size_t>(nc)), bdelta(static_cast<size_t>(nc));
    for (int j = 0; j < nc; ++j) {
        const int x = reads.cols[size_t(j)];
        adelta[size_t(j)] = cv::saturate_cast<int>(M[0] * (x + x1) * kABScale);
        bdelta[size_t(j)] = cv::saturate_cast<int>(M[3] * (x + x1) * kABScale);
    }
    cv::Mat xy(nr, nc, CV_16SC2), alpha(nr, nc, CV_16UC1);
    for (int i = 0; i < nr; ++i) {
        const int y = reads.rows[size_t(i)];
        const int X0 = cv::saturate_cast<int>((M[1] * y + M[2]) * kABScale) + kRoundDelta;
        const int Y0 = cv::saturate_cast<int>((M[4] * y + M[5]) * kABScale) + kRoundDelta;
        short *p = xy.ptr<short>(i);
        uint16_t *a = alpha.ptr<uint16_t>(i);
        for (int j = 0; j < nc; ++j) {
            const int X = (X0 + adelta[size_t(j)]) >> (kABBits - kInterBits);
            const int Y = (Y0 + bdelta[size_t(j)]) >> (kABBits - kInterBits);
            // In the sub-image, as warpAffine saturates it, then in its inside part.
            p[2 * j] = cv::saturate_cast<short>(cv::saturate_cast<short>(X >> kInterBits) - sub.at_x);
            p[2 * j + 1] = cv::saturate_cast<short>(cv::saturate_cast<short>(Y >> kInterBits) - sub.at_y);
            a[j] = uint16_t((Y & (kTab - 1)) * kTab + (X & (kTab - 1)));
        }
    }
    cv::Mat out;
    cv::remap(sub.inside, out, xy, alpha, cv::INTER_CUBIC, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
    if (nr == rows && nc == cols) return out;
    if (partial) {
        partial->rows.assign(size_t(rows), -1);
        partial->cols.assign(size_t(cols), -1);
        for (int i = 0; i < nr; ++i) partial->rows[size_t(reads.rows[size_t(i)])] = i;
        for (int j = 0; j < nc; ++j) partial->cols[size_t(reads.cols[size_t(j)])] = j;
    }
    return out;
}

// The same box through warpAffine over the sub-image's full width, then cut:
// what rotated_box must match; for tests.
cv::Mat rotated_box_reference(const cv::Mat &sub, double angle, int y1, int y2, int x1, int x2) {
    y1 = std::clamp(y1, 0, sub.rows);
    y2 = std::clamp(y2, 0, sub.rows);
    if (y2 <= y1) return cv::Mat();
    cv::Mat out;
    cv::warpAffine(sub, out, rotation_rows_matrix(sub.rows, sub.cols, angle, y1), cv::Size(sub.cols, y2 - y1),
                   cv::INTER_CUBIC | cv::WARP_INVERSE_MAP, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
    return slice(out, x1, 0, x2, out.rows);
}

// resize(src / 255 in float64, (nw, nh)), as deepface divides the whole crop
// before resizing it, computed straight from the bytes: converting the crop
// first wrote 24 bytes per pixel (24 MB for a 1000 x 1000 face, fresh memory
// each time) to read a tenth of it. This is OpenCV 4.6's linear resize for
// doubles (cv::resize -> resizeGeneric_ with HResizeLinear and VResizeLinear,
// float coefficients, no vector code for 64F), step by step: the same
// offsets, the same float weights, the same products and sums in the same
// order, so the same doubles. Each source element is x * (1/255) on its own,
// as convertTo gives it. Returns an empty Mat where OpenCV would take another
// path (an exact 2x shrink becomes an area resize); the caller converts then.
// A test compares this with convertTo + cv::resize on random crops.
#if defined(__clang__)
#pragma clang fp contract(off)  // OpenCV's generic code is built without FMA
#endif
cv::Mat unit_resize(const fk_image *face, int nw, int nh) {
    const cv::Mat &src = face->mat;
    const int sw = fk::logical_cols(face), sh = fk::logical_rows(face), cn = 3;
    if (fk::area_resize(sw, sh, nw, nh)) return cv::Mat();
    const double scale_y = 1. / (double(nh) / sh);
    // A compact crop (fk_image::fit_rows, fit_cols) is read through its maps;
    // a pixel it lacks is a bug in fit_reads, refused rather than read.
    const bool compact = !face->fit_rows.empty();
    auto row_of = [&](int y) {
        const int r = compact ? face->fit_rows[size_t(y)] : y;
        if (r < 0) throw fk::Failure(FK_ERR_INTERNAL, "the fit read a crop row that was not computed");
        return r;
    };
    auto element_of = [&](int e) {  // element offset e = column * cn + channel
        if (!compact) return e;
        const int c = face->fit_cols[size_t(e / cn)];
        if (c < 0) throw fk::Failure(FK_ERR_INTERNAL, "the fit read a crop column that was not computed");
        return c * cn + e % cn;
    };

    double unit[256];
    for (int v = 0; v < 256; ++v) unit[v] = double(v) * (1.0 / 255.0);

    const fk::LinearColumns columns(sw, nw, cn);
    const int width = nw * cn, xmax = columns.xmax;
    std::vector<int> at0(static_cast<size_t>(width)), at1(static_cast<size_t>(xmax));
    for (int dx = 0; dx < width; ++dx) {
        at0[size_t(dx)] = element_of(columns.xofs[size_t(dx)]);
        if (dx < xmax) at1[size_t(dx)] = element_of(columns.xofs[size_t(dx)] + cn);
    }
    auto horizontal = [&](int sy, std::vector<double> &out) {
        const uint8_t *S = src.ptr<uint8_t>(row_of(sy));
        int dx = 0;
        for (; dx < xmax; ++dx) {
            const double a0 = 1.f - columns.fx[size_t(dx)], a1 = columns.fx[size_t(dx)];
            out[size_t(dx)] = unit[S[at0[size_t(dx)]]] * a0 + unit[S[at1[size_t(dx)]]] * a1;
        }
        for (; dx < width; ++dx) out[size_t(dx)] = unit[S[at0[size_t(dx)]]];
    };
    fk::RowPair<double> rows(static_cast<size_t>(width));

    cv::Mat out(nh, nw, CV_64FC3);
    for (int dy = 0; dy < nh; ++dy) {
        const fk::LinearTap t = fk::linear_tap(dy, scale_y);
        const double b0 = 1.f - t.f, b1 = t.f;
        const int y0 = std::clamp(t.s, 0, sh - 1), y1 = std::clamp(t.s + 1, 0, sh - 1);
        const std::vector<double> &S0 = rows.get(y0, -2, horizontal);
        const std::vector<double> &S1 = rows.get(y1, y0, horizontal);
        double *D = out.ptr<double>(dy);
        for (int x = 0; x < width; ++x) D[x] = S0[size_t(x)] * b0 + S1[size_t(x)] * b1;
    }
    return out;
}
#if defined(__clang__)
#pragma clang fp contract(on)
#endif

// Least-squares similarity transform (Umeyama) from src to dst points.
cv::Mat similarity(const std::vector<cv::Point2d> &src, const std::vector<cv::Point2d> &dst) {
    size_t n = src.size();
    cv::Point2d ms(0, 0), md(0, 0);
    for (size_t i = 0; i < n; ++i) { ms += src[i]; md += dst[i]; }
    ms *= 1.0 / n; md *= 1.0 / n;
    double var = 0;
    cv::Matx22d cov(0, 0, 0, 0);
    for (size_t i = 0; i < n; ++i) {
        cv::Point2d s = src[i] - ms, d = dst[i] - md;
        var += s.dot(s);
        cov(0, 0) += d.x * s.x; cov(0, 1) += d.x * s.y;
        cov(1, 0) += d.y * s.x; cov(1, 1) += d.y * s.y;
    }
    var /= n;
    cov *= 1.0 / n;
    cv::Mat w, u, vt;
    cv::SVD::compute(cv::Mat(cov), w, u, vt);
    cv::Matx22d S(1, 0, 0, 1);
    if (cv::determinant(cv::Mat(cov)) < 0) S(1, 1) = -1;
    cv::Mat R = u * cv::Mat(S) * vt;
    double trace = w.at<double>(0) * S(0, 0) + w.at<double>(1) * S(1, 1);
    double scale = var > 0 ? trace / var : 1.0;
    cv::Mat M(2, 3, CV_64F);
    for (int r = 0; r < 2; ++r) {
        M.at<double>(r, 0) = scale * R.at<double>(r, 0);
        M.at<double>(r, 1) = scale * R.at<double>(r, 1);
    }
    M.at<double>(0, 2) = md.x - (M.at<double>(0, 0) * ms.x + M.at<double>(0, 1) * ms.y);
    M.at<double>(1, 2) = md.y - (M.at<double>(1, 0) * ms.x + M.at<double>(1, 1) * ms.y);
    return M;
}

}  // namespace

extern "C" {

fk_status fk_align_deepface(const fk_image *image, int32_t x, int32_t y, int32_t w, int32_t h, int32_t align,
                            int32_t have_eyes, float lex, float ley, float rex, float rey, const int32_t *fits,
                            int32_t fit_count, fk_image **out, fk_error *error) {
    return fk::guarded(error, FK_ERR_INTERNAL, [&] {
        *out = nullptr;
        // A virtually padded image gives its sub-images from its interior.
        const cv::Mat &img = align && image->virtual_pad ? image->mat : fk::whole_pixels(image);
        cv::Mat face;
        bool fresh = false;  // face is a new image, not a view of img
        PartialCrop partial;
        if (fits && fit_count < 0) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "negative fit count");
        if (!align) {
            face = slice(img, x, y, x + w, y + h);
        } else {
            int rx = 0, ry = 0;
            // From a virtually padded image's interior: the box moved by the
            // border, black where it leaves the interior, as it would be.
            const SubImage sub = image->virtual_pad ? sub_image(img, x - image->pad_x, y - image->pad_y, w, h, rx, ry)
                                                    : sub_image(img, x, y, w, h, rx, ry);
            double angle = 0;
            if (have_eyes && sub.rows > 0 && sub.cols > 0)
                angle = std::atan2(double(ley) - rey, double(lex) - rex) * 180.0 / M_PI;
            int box[4];
            project(rx, ry, rx + w, ry + h, angle, sub.rows, sub.cols, box);
            if (have_eyes && sub.rows > 0 && sub.cols > 0) {
                face = align == 2 ? rotated_box_reference(sub.whole(), angle, box[1], box[3], box[0], box[2])
                                  : rotated_box(sub, angle, box[1], box[3], box[0], box[2], fits, fit_count, &partial);
                fresh = true;
            } else {
                face = slice(sub.whole(), box[0], box[1], box[2], box[3]);
            }
        }
        auto result = std::make_unique<fk_image>();
        // A slice of the image is copied: the crop must outlive it. Empty
        // when the box fell outside the image.
        result->mat = fresh ? face : face.clone();
        if (partial.partial) {
            for (int32_t i = 0; i < fit_count; ++i) result->fit_only.emplace_back(fits[2 * i], fits[2 * i + 1]);
            result->fit_rows = std::move(partial.rows);
            result->fit_cols = std::move(partial.cols);
        }
        *out = result.release();
    });
}

fk_status fk_align_landmarks(const fk_image *image, const float points[10], int32_t size, fk_image **out,
                             fk_error *error) {
    return fk::guarded(error, FK_ERR_INTERNAL, [&] {
        // The ArcFace 112x112 template, in the order: the person's right eye
        // (image left), left eye, nose, right and left mouth corners.
        static const double tmpl[5][2] = {{38.2946, 51.6963}, {73.5318, 51.5014}, {56.0252, 71.7366},
                                          {41.5493, 92.3655}, {70.7299, 92.2041}};
        static const int order[5] = {FK_LM_RIGHT_EYE, FK_LM_LEFT_EYE, FK_LM_NOSE, FK_LM_MOUTH_RIGHT,
                                     FK_LM_MOUTH_LEFT};
        std::vector<cv::Point2d> src, dst;
        double s = size / 112.0;
        for (int i = 0; i < 5; ++i) {
            src.emplace_back(points[2 * order[i]], points[2 * order[i] + 1]);
            dst.emplace_back(tmpl[i][0] * s, tmpl[i][1] * s);
        }
        cv::Mat M = similarity(src, dst);
        auto *result = new fk_image;
        cv::warpAffine(fk::whole_pixels(image), result->mat, M, cv::Size(size, size), cv::INTER_LINEAR,
                       cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
        *out = result;
    });
}

fk_status fk_preprocess_fit(const fk_image *face, int32_t tw, int32_t th, int32_t from_bytes, float *out,
                            fk_error *error) {
    return fk::guarded(error, FK_ERR_INTERNAL, [&] {
        const cv::Mat &src = face->mat;
        if (src.empty()) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "empty face crop");
        if (!face->fit_only.empty() &&
            (from_bytes != 0 || std::find(face->fit_only.begin(), face->fit_only.end(), std::make_pair(tw, th)) == face->fit_only.end()))
            throw fk::Failure(FK_ERR_INTERNAL, "this face crop was computed only for the fits it was cut for");
        // deepface's extract_faces divides by 255 in float64 before resizing,
        // so resize in float64 too: resizing uint8 would round differently.
        // Its represent with detector "skip" resizes the decoded bytes
        // instead and divides afterwards, in float32 (from_bytes).
        const int rows = fk::logical_rows(face), cols = fk::logical_cols(face);
        double factor = std::min(double(th) / rows, double(tw) / cols);
        int nw = int(cols * factor), nh = int(rows * factor);
        const int depth = from_bytes == 1 ? src.depth() : CV_64F;
        cv::Mat resized;
        if (nw > 0 && nh > 0) {
            if (from_bytes == 0) resized = unit_resize(face, nw, nh);
            if (resized.empty()) {
                // Only an area resize comes here, which reads every pixel, so
                // fit_reads never made such a crop compact.
                if (!face->fit_rows.empty()) throw fk::Failure(FK_ERR_INTERNAL, "a compact crop cannot be area-resized");
                cv::Mat f = src;
                if (from_bytes != 1) src.convertTo(f, CV_64FC3, 1.0 / 255.0);
                cv::resize(f, resized, cv::Size(nw, nh));
            }
        } else {
            resized = cv::Mat::zeros(std::max(nh, 0), std::max(nw, 0), CV_MAKETYPE(depth, 3));
        }
        int d0 = th - resized.rows, d1 = tw - resized.cols;
        cv::Mat padded;
        if (resized.empty()) padded = cv::Mat::zeros(th, tw, CV_MAKETYPE(depth, 3));
        else cv::copyMakeBorder(resized, padded, d0 / 2, d0 - d0 / 2, d1 / 2, d1 - d1 / 2, cv::BORDER_CONSTANT,
                                cv::Scalar(0, 0, 0));
        if (padded.rows != th || padded.cols != tw) cv::resize(padded, padded, cv::Size(tw, th));
        cv::Mat f32(th, tw, CV_32FC3, out);
        padded.convertTo(f32, CV_32FC3);
        if (from_bytes) {
            // deepface: `if img.max() > 1: img = img / 255`, in float32.
            double maxv = 0;
            cv::minMaxLoc(f32.reshape(1), nullptr, &maxv);
            if (maxv > 1) f32 /= 255.0f;
        }
    });
}

}  // extern "C"

extern "C" {

// deepface pads the whole image by half its size before detecting. Done with
// copyMakeBorder that is a buffer four times the image, written in full; here
// the buffer is an anonymous mapping and only the image itself is copied in,
// so the border stays on the kernel's zero page: same pixels, a quarter of
// the memory and no time spent writing zeros.
fk_status fk_image_pad_zero(const fk_image *image, int32_t top, int32_t bottom, int32_t left, int32_t right,
                            fk_image **out, fk_error *error) {
    return fk::guarded(error, FK_ERR_INTERNAL, [&] {
        if (top < 0 || bottom < 0 || left < 0 || right < 0) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "negative padding");
        // Decoded into a canvas, for these very borders: a virtual padded
        // image over the same pixels. Never for no border at all, which
        // callers use to get a copy they may draw on.
        if (image->scratch && !image->virtual_pad && (top > 0 || left > 0) && top == image->pad_y &&
            bottom == image->pad_y && left == image->pad_x && right == image->pad_x) {
            auto *result = new fk_image;
            result->mat = image->mat;
            result->virtual_pad = true;
            result->pad_y = top;
            result->pad_x = left;
            result->keep = image->keep;
            result->scratch = image->scratch;
            if (!image->prepadded.empty())
                std::call_once(result->made_once, [&] {
                    result->made = image->prepadded;
                    result->made_keep = image->keep;
                });
            *out = result;
            return;
        }
        const cv::Mat &src = fk::whole_pixels(image);
        const int rows = src.rows + top + bottom, cols = src.cols + left + right;
        const size_t step = size_t(cols) * 3, length = step * size_t(rows);
        auto memory = std::make_shared<fk::ZeroMapping>(length);
        auto result = std::make_unique<fk_image>();
        result->mat = cv::Mat(rows, cols, CV_8UC3, memory->bytes(), step);
        result->keep = std::move(memory);
        src.copyTo(result->mat(cv::Rect(left, top, src.cols, src.rows)));
        *out = result.release();
    });
}

}  // extern "C"
