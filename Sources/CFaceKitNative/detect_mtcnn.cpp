// MTCNN face detector, following the Python `mtcnn` package 1.0.0 (the one
// deepface 0.0.103 runs for detector_backend="mtcnn") step by step:
//
//  - the RGB image is normalised as (v - 127.5) / 128, in HWC order (no
//    transpose);
//  - pyramid: n = round(-(log(min(H, W) / 12) / log(0.709) + 1)) scales
//    0.6 * 0.709^k, each level of size trunc(H * s) x trunc(W * s), made with
//    TensorFlow's area resize (tf.image.resize(method=AREA));
//  - PNet: cells with p(face) > 0.6 become boxes (2x+1, 2y+1, 2x+12, 2y+12)
//    moved by the regression times 11, divided by the scale; NMS (IoU 0.5)
//    per scale, then NMS (IoU 0.7) over all scales, then squared;
//  - RNet (24x24) and ONet (48x48) crops are TensorFlow's crop_and_resize
//    (bilinear, 0 outside) of the normalised image with boxes divided by
//    (H, W); their regressions move the boxes by offset * (side + 1);
//    RNet keeps p > 0.7, NMS IoU 0.7, squares; ONet keeps p > 0.8 (or the
//    caller's threshold), NMS by intersection over the smaller area, 0.7;
//  - landmarks are l * (side + 1) + x1 - 1 on ONet's input box;
//  - boxes are clipped to [0, W-1] x [0, H-1], then reported as
//    round(x1), round(y1), round(x2 - x1), round(y2 - y1) (half to even),
//    landmarks rounded the same way.
// mtcnn's NMS is not the greedy one: a box is dropped when any box ranked
// before it, kept or not, overlaps it above the threshold. Ranking is by
// score, highest first: numpy's argsort reversed, with numpy's own order of
// tied scores (see NumpyArgsort below).
//
// The three ONNX graphs come from scripts/convert/mtcnn_to_onnx.py: NCHW
// float input "input"; outputs "bbox_reg", "prob" (and "landmarks" for ONet).

#include "internal.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

namespace fk {
namespace {

// mtcnn 1.0.0 defaults (StagePNet / StageRNet / StageONet keyword arguments).
constexpr double kMinFaceSize = 20.0;
constexpr double kMinSize = 12.0;
constexpr double kScaleFactor = 0.709;
constexpr float kThresholdPNet = 0.6f;
constexpr double kNmsPNetPerScale = 0.5;
constexpr double kNmsPNetAll = 0.7;
constexpr float kThresholdRNet = 0.7f;
constexpr double kNmsRNet = 0.7;
constexpr float kThresholdONet = 0.8f;
constexpr double kNmsONet = 0.7;
// Boxes per RNet/ONet forward pass; only bounds memory, results do not depend on it.
constexpr int kChunk = 256;

struct Box {
    double x1, y1, x2, y2;
    double score;
    float lx[5], ly[5];  // ONet landmarks, image coordinates
};

// ------------------------------------------------------------ ranking, NMS

// mtcnn ranks boxes with numpy: argsort(scores)[::-1]. Scores tie often (a
// float32 softmax saturates at exactly 1.0 on clear faces), and which of the
// tied boxes comes first decides which one survives NMS, so the order of ties
// matters for the final box (by 10-30 px on some images). numpy >= 2 on x86
// sorts float64 with its SIMD quicksort (x86-simd-sort), whose order of equal
// keys follows from its sorting networks and partitioning. This is a scalar
// model of that algorithm, checked to give numpy 2.4's exact permutation on
// hundreds of arrays full of ties: Lanes = 8 models AVX-512 machines, 4 AVX2
// machines (the two differ only above 256 elements).
constexpr int kNumpySortLanes = 8;

template <int Lanes>
class NumpyArgsort {
public:
    // Writes to out the permutation np.argsort(keys) gives (ascending).
    void argsort(const double *keys, int64_t n, std::vector<int64_t> &out) {
        key_ = keys;
        out.resize(static_cast<size_t>(n));
        std::iota(out.begin(), out.end(), int64_t{0});
        arg_ = out.data();
        if (n <= 1 || std::is_sorted(keys, keys + n)) return;  // numpy returns early then
        quicksort(0, n - 1, 2 * static_cast<int64_t>(std::log2(static_cast<double>(n))));
    }

private:
    static constexpr int kUnroll = 4;
    static constexpr int kNetworkMax = 256;

    // A comparator of the networks: smaller key to a; equal keys stay put.
    void exchange(int a, int b) {
        if (nk_[a] > nk_[b]) {
            std::swap(nk_[a], nk_[b]);
            std::swap(nv_[a], nv_[b]);
        }
    }
    // In-register steps: pair lane i of each block with its mirror (reverse)
    // or with the lane half a block away (swap).
    void mirror_step(int reg, int block) {
        for (int s = 0; s < Lanes; s += block)
            for (int i = 0; i < block / 2; ++i)
                exchange(reg * Lanes + s + i, reg * Lanes + s + block - 1 - i);
    }
    void half_step(int reg, int block) {
        for (int s = 0; s < Lanes; s += block)
            for (int i = 0; i < block / 2; ++i)
                exchange(reg * Lanes + s + i, reg * Lanes + s + i + block / 2);
    }
    void sort_register(int reg) {
        for (int b = 2; b <= Lanes; b *= 2) {
            mirror_step(reg, b);
            for (int c = b / 2; c >= 2; c /= 2) half_step(reg, c);
        }
    }
    void merge_register(int reg) {
        for (int c = Lanes; c >= 2; c /= 2) half_step(reg, c);
    }
    // Bitonic merge of registers [first, first + count), each sorted.
    void merge_registers(int first, int count) {
        for (int i = 0; i < count / 2; ++i)
            for (int l = 0; l < Lanes; ++l)
                exchange((first + i) * Lanes + l, (first + count - 1 - i) * Lanes + (Lanes - 1 - l));
        for (int span = count / 2; span >= 2; span /= 2)
            for (int j = 0; j < count; j += span)
                for (int i = 0; i < span / 2; ++i)
                    for (int l = 0; l < Lanes; ++l)
                        exchange((first + i + j) * Lanes + l, (first + i + j + span / 2) * Lanes + l);
        for (int i = 0; i < count; ++i) merge_register(first + i);
    }
    // Sorting network for up to 256 elements, padded with +inf to a power of
    // two of registers.
    void network(int64_t *a, int n) {
        int regs = kNetworkMax / Lanes;
        while (regs > 1 && n * 2 <= regs * Lanes) regs /= 2;
        const int total = regs * Lanes;
        nk_.assign(total, std::numeric_limits<double>::infinity());
        nv_.assign(total, -1);
        for (int i = 0; i < n; ++i) {
            nv_[i] = a[i];
            nk_[i] = key_[a[i]];
        }
        for (int r = 0; r < regs; ++r) sort_register(r);
        for (int per = 2; per <= regs; per *= 2)
            for (int g = 0; g < regs / per; ++g) merge_registers(g * per, per);
        for (int i = 0; i < n; ++i) a[i] = nv_[i];
    }
    double pivot(int64_t left, int64_t right) const {  // median of Lanes samples
        const int64_t step = (right - left) / Lanes;
        double s[Lanes];
        for (int i = 0; i < Lanes; ++i) s[i] = key_[arg_[left + (i + 1) * step]];
        std::sort(s, s + Lanes);
        return s[Lanes / 2];
    }
    // One register of indices: keys < pivot go to [l, ...) in lane order, the
    // others to [..., r): in lane order with AVX-512's compress store, in
    // reverse lane order with AVX2's permute-and-store.
    int split_register(int64_t l, int64_t r, const int64_t *reg, double pv, double &lo, double &hi) {
        int ge = 0;
        for (int i = 0; i < Lanes; ++i) {
            const double x = key_[reg[i]];
            lo = std::min(lo, x);
            hi = std::max(hi, x);
            ge += x >= pv;
        }
        int64_t wl = l, wr = Lanes == 8 ? r - ge : r - 1;
        for (int i = 0; i < Lanes; ++i) {
            if (key_[reg[i]] >= pv)
                arg_[Lanes == 8 ? wr++ : wr--] = reg[i];
            else
                arg_[wl++] = reg[i];
        }
        return ge;
    }
    // Partition of [left, right) around pv; returns the first index >= pv.
    int64_t partition(int64_t left, int64_t right, double pv, double &lo, double &hi) {
        constexpr int block = kUnroll * Lanes;
        for (int64_t i = (right - left) % block; i > 0; --i) {
            const double x = key_[arg_[left]];
            lo = std::min(lo, x);
            hi = std::max(hi, x);
            if (!(x < pv))
                std::swap(arg_[left], arg_[--right]);
            else
                ++left;
        }
        if (left == right) return left;
        int64_t first[kUnroll][Lanes], last[kUnroll][Lanes], cur[kUnroll][Lanes];
        for (int u = 0; u < kUnroll; ++u)
            for (int i = 0; i < Lanes; ++i) {
                first[u][i] = arg_[left + Lanes * u + i];
                last[u][i] = arg_[right - Lanes * (kUnroll - u) + i];
            }
        int64_t rs = right - Lanes, ls = left;
        left += block;
        right -= block;
        auto put = [&](const int64_t *reg) {
            const int ge = split_register(ls, rs + Lanes, reg, pv, lo, hi);
            ls += Lanes - ge;
            rs -= ge;
        };
        while (right != left) {
            int64_t from;
            if ((rs + Lanes) - right < left - ls) {
                right -= block;
                from = right;
            } else {
                from = left;
                left += block;
            }
            for (int u = 0; u < kUnroll; ++u)
                for (int i = 0; i < Lanes; ++i) cur[u][i] = arg_[from + u * Lanes + i];
            for (int u = 0; u < kUnroll; ++u) put(cur[u]);
        }
        for (int u = 0; u < kUnroll; ++u) put(first[u]);
        for (int u = 0; u < kUnroll; ++u) put(last[u]);
        return ls;
    }
    void quicksort(int64_t left, int64_t right, int64_t budget) {
        if (budget <= 0) {  // numpy falls back to std::sort; practically unreachable here
            std::sort(arg_ + left, arg_ + right + 1,
                      [this](int64_t a, int64_t b) { return key_[a] < key_[b]; });
            return;
        }
        if (right + 1 - left <= kNetworkMax) {
            network(arg_ + left, static_cast<int>(right + 1 - left));
            return;
        }
        const double pv = pivot(left, right);
        double lo = std::numeric_limits<double>::infinity();
        double hi = -std::numeric_limits<double>::infinity();
        const int64_t mid = partition(left, right + 1, pv, lo, hi);
        if (pv != lo) quicksort(left, mid - 1, budget - 1);
        if (pv != hi) quicksort(mid, right, budget - 1);
    }

    const double *key_ = nullptr;
    int64_t *arg_ = nullptr;
    std::vector<double> nk_;
    std::vector<int64_t> nv_;
};

using ScoreSorter = NumpyArgsort<kNumpySortLanes>;

// sort_by_scores(..., ascending=False): tensor[argsort(scores)[::-1]].
void rank_by_score(std::vector<Box> &boxes, std::vector<Box> &tmp, ScoreSorter &sorter,
                   std::vector<double> &scores, std::vector<int64_t> &order) {
    const size_t n = boxes.size();
    scores.resize(n);
    for (size_t i = 0; i < n; ++i) scores[i] = boxes[i].score;
    sorter.argsort(scores.data(), static_cast<int64_t>(n), order);
    tmp.clear();
    tmp.reserve(n);
    for (size_t i = n; i-- > 0;) tmp.push_back(boxes[static_cast<size_t>(order[i])]);
    boxes.swap(tmp);
}

// mtcnn's nms(): keeps box j unless some box i < j (in the current order,
// whether kept or not) has overlap(i, j) > threshold. Overlap is IoU, or
// intersection over the smaller area when use_min.
void nms_in_place(std::vector<Box> &boxes, double threshold, bool use_min,
                  std::vector<double> &areas, std::vector<Box> &tmp) {
    const size_t n = boxes.size();
    if (n < 2) return;
    areas.resize(n);
    for (size_t i = 0; i < n; ++i)
        areas[i] = (boxes[i].x2 - boxes[i].x1) * (boxes[i].y2 - boxes[i].y1);
    tmp.clear();
    for (size_t j = 0; j < n; ++j) {
        const Box &b = boxes[j];
        bool drop = false;
        for (size_t i = 0; i < j && !drop; ++i) {
            const Box &a = boxes[i];
            const double ix1 = std::max(a.x1, b.x1), iy1 = std::max(a.y1, b.y1);
            const double ix2 = std::min(a.x2, b.x2), iy2 = std::min(a.y2, b.y2);
            const double inter = std::max(0.0, iy2 - iy1) * std::max(0.0, ix2 - ix1);
            const double denom = use_min ? std::min(areas[i], areas[j])
                                         : areas[i] + areas[j] - inter;
            // NaN (0/0) compares false, as in numpy.
            if (inter / denom > threshold) drop = true;
        }
        if (!drop) tmp.push_back(b);
    }
    boxes.swap(tmp);
}

// resize_to_square: grow the shorter side about the centre.
void square(std::vector<Box> &boxes) {
    for (Box &b : boxes) {
        const double h = b.y2 - b.y1, w = b.x2 - b.x1;
        const double side = std::max(w, h);
        b.x1 = b.x1 + w * 0.5 - side * 0.5;
        b.y1 = b.y1 + h * 0.5 - side * 0.5;
        b.x2 = b.x1 + side;
        b.y2 = b.y1 + side;
    }
}

// adjust_bboxes: offsets scaled by (x2 - x1 + 1, y2 - y1 + 1).
void regress(Box &b, const float *off) {
    const double w = b.x2 - b.x1 + 1.0, h = b.y2 - b.y1 + 1.0;
    b.x1 += static_cast<double>(off[0]) * w;
    b.y1 += static_cast<double>(off[1]) * h;
    b.x2 += static_cast<double>(off[2]) * w;
    b.y2 += static_cast<double>(off[3]) * h;
}

// ------------------------------------------------------- image operations
//
// mtcnn works on the RGB image normalised as (v - 127.5) / 128 (float64 in
// numpy, exact in float32). Both resamplers below read the BGR bytes through
// a table of those values, so no normalised copy of the image is made.

struct Normaliser {
    float v[256];
    Normaliser() {
        for (int i = 0; i < 256; ++i) v[i] = static_cast<float>((i - 127.5) / 128.0);
    }
};
const Normaliser kNorm;

struct AreaTap {
    int64_t start, end;    // cells [start, end) of the input
    int64_t first, last;   // start and end - 1 clamped into the image
    float start_scale, end_scale;
};

// The weight TensorFlow's area resize gives to cell v for the output span
// [lo, hi) (in input coordinates), computed in the same float steps.
inline float area_weight(int64_t v, float lo, float hi, float full) {
    if (static_cast<float>(v) < lo)
        return static_cast<float>(v + 1) > hi ? full : static_cast<float>(v + 1) - lo;
    return static_cast<float>(v + 1) > hi ? hi - static_cast<float>(v) : 1.0f;
}

inline int64_t clamp_index(int64_t v, int64_t n) {
    return std::min<int64_t>(n - 1, std::max<int64_t>(0, v));
}

// tf.image.resize(method=AREA) (TensorFlow's ResizeArea kernel, no corner
// alignment) of the normalised RGB image to oh x ow, written planar (CHW) into
// dst. Same float operations in the same order as TensorFlow, so the same
// values, bit for bit.
void area_resize(const cv::Mat &bgr, float *dst, int oh, int ow, std::vector<AreaTap> &xtaps) {
    const int H = bgr.rows, W = bgr.cols;
    const float hs = static_cast<float>(H) / static_cast<float>(oh);
    const float ws = static_cast<float>(W) / static_cast<float>(ow);
    const float norm = static_cast<float>(1.0 / static_cast<double>(hs * ws));
    const float *lut = kNorm.v;

    xtaps.resize(ow);
    for (int x = 0; x < ow; ++x) {
        const float lo = static_cast<float>(x) * ws, hi = static_cast<float>(x + 1) * ws;
        AreaTap &t = xtaps[x];
        t.start = static_cast<int64_t>(std::floor(lo));
        t.end = static_cast<int64_t>(std::ceil(hi));
        t.first = clamp_index(t.start, W);
        t.last = clamp_index(t.end - 1, W);
        t.start_scale = area_weight(t.start, lo, hi, ws);
        t.end_scale = area_weight(t.end - 1, lo, hi, ws);
    }
    const size_t plane = static_cast<size_t>(oh) * ow;

    cv::parallel_for_(cv::Range(0, oh), [&](const cv::Range &r) {
        std::vector<const uint8_t *> rows;
        std::vector<float> yw;
        for (int y = r.start; y < r.end; ++y) {
            const float lo = static_cast<float>(y) * hs, hi = static_cast<float>(y + 1) * hs;
            const int64_t y0 = static_cast<int64_t>(std::floor(lo));
            const int64_t y1 = static_cast<int64_t>(std::ceil(hi));
            rows.clear();
            yw.clear();
            for (int64_t i = y0; i < y1; ++i) {
                yw.push_back(area_weight(i, lo, hi, hs));
                rows.push_back(bgr.ptr<uint8_t>(static_cast<int>(clamp_index(i, H))));
            }
            float *d0 = dst + static_cast<size_t>(y) * ow;  // R, G, B planes
            float *d1 = d0 + plane;
            float *d2 = d1 + plane;
            for (int x = 0; x < ow; ++x) {
                const AreaTap &t = xtaps[x];
                float s0 = 0, s1 = 0, s2 = 0;
                for (size_t k = 0; k < rows.size(); ++k) {
                    const uint8_t *p = rows[k];
                    const uint8_t *q = p + 3 * t.first;
                    float r0 = lut[q[2]] * t.start_scale;
                    float r1 = lut[q[1]] * t.start_scale;
                    float r2 = lut[q[0]] * t.start_scale;
                    if (t.start + 1 != t.end) {
                        for (int64_t c = t.start + 1; c < t.end - 1; ++c) {  // always inside
                            const uint8_t *m = p + 3 * c;
                            r0 += lut[m[2]];
                            r1 += lut[m[1]];
                            r2 += lut[m[0]];
                        }
                        const uint8_t *e = p + 3 * t.last;
                        r0 += lut[e[2]] * t.end_scale;
                        r1 += lut[e[1]] * t.end_scale;
                        r2 += lut[e[0]] * t.end_scale;
                    }
                    s0 += r0 * yw[k];
                    s1 += r1 * yw[k];
                    s2 += r2 * yw[k];
                }
                d0[x] = s0 * norm;
                d1[x] = s1 * norm;
                d2[x] = s2 * norm;
            }
        }
    });
}

// tf.image.crop_and_resize (bilinear, extrapolation 0) of one box of the
// normalised RGB image to size x size, planar into dst (3 * size * size
// floats). mtcnn passes the box as (y1 / H, x1 / W, y2 / H, x2 / W) in float32.
void crop_resize(const cv::Mat &bgr, const Box &b, int size, float *dst) {
    const int H = bgr.rows, W = bgr.cols;
    const float *lut = kNorm.v;
    const float y1 = static_cast<float>(b.y1 / H), x1 = static_cast<float>(b.x1 / W);
    const float y2 = static_cast<float>(b.y2 / H), x2 = static_cast<float>(b.x2 / W);
    const float hscale = (y2 - y1) * static_cast<float>(H - 1) / static_cast<float>(size - 1);
    const float wscale = (x2 - x1) * static_cast<float>(W - 1) / static_cast<float>(size - 1);
    const size_t plane = static_cast<size_t>(size) * size;
    for (int y = 0; y < size; ++y) {
        const float in_y = y1 * static_cast<float>(H - 1) + static_cast<float>(y) * hscale;
        float *d = dst + static_cast<size_t>(y) * size;
        if (in_y < 0 || in_y > static_cast<float>(H - 1)) {
            for (int x = 0; x < size; ++x) d[x] = d[x + plane] = d[x + 2 * plane] = 0.0f;
            continue;
        }
        const int top = static_cast<int>(std::floor(in_y));
        const int bottom = static_cast<int>(std::ceil(in_y));
        const float yl = in_y - static_cast<float>(top);
        const uint8_t *rt = bgr.ptr<uint8_t>(top);
        const uint8_t *rb = bgr.ptr<uint8_t>(bottom);
        for (int x = 0; x < size; ++x) {
            const float in_x = x1 * static_cast<float>(W - 1) + static_cast<float>(x) * wscale;
            if (in_x < 0 || in_x > static_cast<float>(W - 1)) {
                d[x] = d[x + plane] = d[x + 2 * plane] = 0.0f;
                continue;
            }
            const int left = static_cast<int>(std::floor(in_x));
            const int right = static_cast<int>(std::ceil(in_x));
            const float xl = in_x - static_cast<float>(left);
            for (int c = 0; c < 3; ++c) {  // RGB plane c reads BGR byte 2 - c
                const float tl = lut[rt[3 * left + 2 - c]], tr = lut[rt[3 * right + 2 - c]];
                const float bl = lut[rb[3 * left + 2 - c]], br = lut[rb[3 * right + 2 - c]];
                const float t = tl + (tr - tl) * xl;
                const float bo = bl + (br - bl) * xl;
                d[x + c * plane] = t + (bo - t) * yl;
            }
        }
    }
}

// ----------------------------------------------------------------- models

bool readable(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    return f.good();
}

cv::dnn::Net load_net(const std::string &path, const char *what) {
    if (!readable(path))
        throw Failure(FK_ERR_MODEL_LOAD, std::string("MTCNN ") + what + ": cannot read " + path);
    cv::dnn::Net net;
    try {
        net = cv::dnn::readNetFromONNX(path);
    } catch (const cv::Exception &e) {
        throw Failure(FK_ERR_MODEL_LOAD, std::string("MTCNN ") + what + ": " + path +
                                             " is not a usable ONNX model: " + e.what());
    }
    if (net.empty())
        throw Failure(FK_ERR_MODEL_LOAD, std::string("MTCNN ") + what + ": " + path + " is empty");
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    return net;
}

// Runs a net once on zeros and checks the output shapes, so that a wrong or
// swapped file fails at open time rather than on the first image.
void probe_net(cv::dnn::Net &net, const char *what, const std::string &path, int in_size,
               const std::vector<cv::String> &names, const std::vector<int> &channels) {
    try {
        int dims[4] = {1, 3, in_size, in_size};
        cv::Mat blob(4, dims, CV_32F, cv::Scalar(0));
        net.setInput(blob, "input");
        std::vector<cv::Mat> outs;
        net.forward(outs, names);
        bool ok = outs.size() == names.size();
        for (size_t i = 0; ok && i < outs.size(); ++i)
            ok = outs[i].dims >= 2 && outs[i].size[0] == 1 && outs[i].size[1] == channels[i] &&
                 outs[i].total() == static_cast<size_t>(channels[i]);
        if (!ok) throw Failure(FK_ERR_MODEL_LOAD, "unexpected output shapes");
    } catch (const Failure &) {
        throw Failure(FK_ERR_MODEL_LOAD, std::string("MTCNN ") + what + ": " + path +
                                             " is not an MTCNN " + what + " (unexpected outputs)");
    } catch (const cv::Exception &) {
        throw Failure(FK_ERR_MODEL_LOAD, std::string("MTCNN ") + what + ": " + path +
                                             " is not an MTCNN " + what + " (fails on a " +
                                             std::to_string(in_size) + "x" +
                                             std::to_string(in_size) + " input)");
    }
}

class MtcnnDetector final : public Detector {
public:
    explicit MtcnnDetector(const std::vector<std::string> &paths) {
        if (paths.size() != 3)
            throw Failure(FK_ERR_INVALID_ARGUMENT, "MTCNN needs 3 model paths: pnet.onnx, rnet.onnx, onet.onnx");
        pnet_ = load_net(paths[0], "PNet");
        rnet_ = load_net(paths[1], "RNet");
        onet_ = load_net(paths[2], "ONet");
        probe_net(pnet_, "PNet", paths[0], 12, {"bbox_reg", "prob"}, {4, 2});
        probe_net(rnet_, "RNet", paths[1], 24, {"bbox_reg", "prob"}, {4, 2});
        probe_net(onet_, "ONet", paths[2], 48, {"bbox_reg", "landmarks", "prob"}, {4, 10, 2});
    }

    std::vector<Face> detect(const cv::Mat &bgr, float score_threshold) override {
        if (bgr.empty()) return {};
        if (bgr.type() != CV_8UC3)
            throw Failure(FK_ERR_INVALID_ARGUMENT, "MTCNN expects an 8-bit BGR image");
        const float onet_threshold = score_threshold < 0 ? kThresholdONet : score_threshold;
        H_ = bgr.rows;
        W_ = bgr.cols;

        // Pyramid (build_scale_pyramid). Images under 21 px on a side get no level.
        const double min_dim = std::min(H_, W_);
        const double count =
            std::nearbyint(-((std::log(min_dim / kMinSize) / std::log(kScaleFactor)) + 1.0));
        if (!(count >= 1)) return {};

        const double m = kMinSize / kMinFaceSize;
        // The first level is the largest; drop a buffer left by a much larger image.
        const size_t level0 = static_cast<size_t>(3) * static_cast<size_t>(H_ * m) *
                              static_cast<size_t>(W_ * m);
        if (pyr_buf_.size() > 2 * level0) std::vector<float>().swap(pyr_buf_);
        boxes_.clear();
        for (int k = 0; k < static_cast<int>(count); ++k) {
            const double scale = m * std::pow(kScaleFactor, static_cast<double>(k));
            run_pnet(bgr, scale);
        }
        if (boxes_.empty()) return {};
        rank_by_score(boxes_, tmp_, sorter_, scores_, order_);
        nms_in_place(boxes_, kNmsPNetAll, false, areas_, tmp_);
        square(boxes_);

        run_rnet(bgr);
        if (boxes_.empty()) return {};
        rank_by_score(boxes_, tmp_, sorter_, scores_, order_);
        nms_in_place(boxes_, kNmsRNet, false, areas_, tmp_);
        square(boxes_);

        run_onet(bgr, onet_threshold);
        if (boxes_.empty()) return {};
        rank_by_score(boxes_, tmp_, sorter_, scores_, order_);
        nms_in_place(boxes_, kNmsONet, true, areas_, tmp_);

        return to_faces();
    }

private:
    void run_pnet(const cv::Mat &bgr, double scale) {
        // tf.image.resize to shape * scale: TensorFlow truncates the float size.
        const int oh = static_cast<int>(static_cast<double>(H_) * scale);
        const int ow = static_cast<int>(static_cast<double>(W_) * scale);
        if (oh < 12 || ow < 12) return;  // cannot happen with mtcnn's pyramid
        const size_t need = static_cast<size_t>(3) * oh * ow;
        if (pyr_buf_.size() < need) pyr_buf_.resize(need);
        int dims[4] = {1, 3, oh, ow};
        cv::Mat level(4, dims, CV_32F, pyr_buf_.data());
        area_resize(bgr, pyr_buf_.data(), oh, ow, xtaps_);
        pnet_.setInput(level, "input");
        pnet_.forward(outs_, std::vector<cv::String>{"bbox_reg", "prob"});
        const cv::Mat &reg = outs_[0], &prob = outs_[1];
        const int gh = prob.size[2], gw = prob.size[3];
        const size_t plane = static_cast<size_t>(gh) * gw;
        const float *p1 = prob.ptr<float>() + plane;  // p(face)
        const float *r = reg.ptr<float>();

        level_.clear();
        for (int y = 0; y < gh; ++y) {
            for (int x = 0; x < gw; ++x) {
                const size_t i = static_cast<size_t>(y) * gw + x;
                if (!(p1[i] > kThresholdPNet)) continue;
                // generate_bounding_box: cell (2x+1, 2y+1)-(2x+12, 2y+12), side 11.
                Box b;
                b.x1 = (2.0 * x + 1) + static_cast<double>(r[i]) * 11.0;
                b.y1 = (2.0 * y + 1) + static_cast<double>(r[i + plane]) * 11.0;
                b.x2 = (2.0 * x + 12) + static_cast<double>(r[i + 2 * plane]) * 11.0;
                b.y2 = (2.0 * y + 12) + static_cast<double>(r[i + 3 * plane]) * 11.0;
                b.score = p1[i];
                level_.push_back(b);
            }
        }
        if (level_.empty()) return;
        rank_by_score(level_, tmp_, sorter_, scores_, order_);
        for (Box &b : level_) {  // upscale_bboxes
            b.x1 /= scale;
            b.y1 /= scale;
            b.x2 /= scale;
            b.y2 /= scale;
        }
        nms_in_place(level_, kNmsPNetPerScale, false, areas_, tmp_);
        boxes_.insert(boxes_.end(), level_.begin(), level_.end());
    }

    // Crops boxes [from, from + n) into blob (n x 3 x size x size).
    void crop_batch(const cv::Mat &bgr, int from, int n, int size, cv::Mat &blob) {
        int dims[4] = {n, 3, size, size};
        blob.create(4, dims, CV_32F);
        const size_t per = static_cast<size_t>(3) * size * size;
        float *base = blob.ptr<float>();
        cv::parallel_for_(cv::Range(0, n), [&](const cv::Range &r) {
            for (int i = r.start; i < r.end; ++i)
                crop_resize(bgr, boxes_[from + i], size, base + per * i);
        });
    }

    void run_rnet(const cv::Mat &bgr) {
        tmp2_.clear();
        const int total = static_cast<int>(boxes_.size());
        for (int from = 0; from < total; from += kChunk) {
            const int n = std::min(kChunk, total - from);
            crop_batch(bgr, from, n, 24, blob_);
            rnet_.setInput(blob_, "input");
            rnet_.forward(outs_, std::vector<cv::String>{"bbox_reg", "prob"});
            const float *reg = outs_[0].ptr<float>();
            const float *prob = outs_[1].ptr<float>();
            for (int i = 0; i < n; ++i) {
                Box b = boxes_[from + i];
                b.score = prob[2 * i + 1];
                regress(b, reg + 4 * i);
                if (b.score > kThresholdRNet) tmp2_.push_back(b);
            }
        }
        boxes_.swap(tmp2_);
    }

    void run_onet(const cv::Mat &bgr, float threshold) {
        tmp2_.clear();
        const int total = static_cast<int>(boxes_.size());
        for (int from = 0; from < total; from += kChunk) {
            const int n = std::min(kChunk, total - from);
            crop_batch(bgr, from, n, 48, blob_);
            onet_.setInput(blob_, "input");
            onet_.forward(outs_, std::vector<cv::String>{"bbox_reg", "landmarks", "prob"});
            const float *reg = outs_[0].ptr<float>();
            const float *lm = outs_[1].ptr<float>();
            const float *prob = outs_[2].ptr<float>();
            for (int i = 0; i < n; ++i) {
                Box b = boxes_[from + i];
                // adjust_landmarks, on the box ONet saw; stored as float32 as mtcnn does.
                const double w = b.x2 - b.x1 + 1.0, h = b.y2 - b.y1 + 1.0;
                for (int k = 0; k < 5; ++k) {
                    b.lx[k] = static_cast<float>(w * static_cast<double>(lm[10 * i + k]) + b.x1 - 1.0);
                    b.ly[k] = static_cast<float>(h * static_cast<double>(lm[10 * i + 5 + k]) + b.y1 - 1.0);
                }
                b.score = prob[2 * i + 1];
                regress(b, reg + 4 * i);
                if (b.score > threshold) tmp2_.push_back(b);
            }
        }
        boxes_.swap(tmp2_);
    }

    std::vector<Face> to_faces() const {
        std::vector<Face> faces;
        faces.reserve(boxes_.size());
        const double xmax = W_ - 1, ymax = H_ - 1;
        auto clip = [](double v, double hi) { return std::min(std::max(v, 0.0), hi); };
        auto rnd = [](double v) { return static_cast<float>(std::nearbyint(v)); };  // half to even
        for (const Box &b : boxes_) {
            // limit_bboxes (boxes only; landmarks are left as they are), then parse_bbox.
            const double x1 = clip(b.x1, xmax), y1 = clip(b.y1, ymax);
            const double x2 = clip(b.x2, xmax), y2 = clip(b.y2, ymax);
            Face f;
            f.x = rnd(x1);
            f.y = rnd(y1);
            f.w = rnd(x2 - x1);
            f.h = rnd(y2 - y1);
            f.confidence = static_cast<float>(b.score);
            // mtcnn's points: 0 "left_eye", 1 "right_eye", 2 "nose", 3 "mouth_left",
            // 4 "mouth_right", named as the viewer sees them. deepface names eyes by
            // the person's side (its left_eye is mtcnn's "right_eye"); the mouth
            // corners get the same treatment here so every slot is person-side.
            f.set_landmark(FK_LM_LEFT_EYE, rnd(b.lx[1]), rnd(b.ly[1]));
            f.set_landmark(FK_LM_RIGHT_EYE, rnd(b.lx[0]), rnd(b.ly[0]));
            f.set_landmark(FK_LM_NOSE, rnd(b.lx[2]), rnd(b.ly[2]));
            f.set_landmark(FK_LM_MOUTH_LEFT, rnd(b.lx[4]), rnd(b.ly[4]));
            f.set_landmark(FK_LM_MOUTH_RIGHT, rnd(b.lx[3]), rnd(b.ly[3]));
            faces.push_back(f);
        }
        return faces;
    }

    cv::dnn::Net pnet_, rnet_, onet_;
    int H_ = 0, W_ = 0;
    // Buffers kept across calls.
    std::vector<float> pyr_buf_;
    cv::Mat blob_;
    std::vector<cv::Mat> outs_;
    std::vector<AreaTap> xtaps_;
    std::vector<Box> boxes_, level_, tmp_, tmp2_;
    ScoreSorter sorter_;
    std::vector<double> scores_;
    std::vector<int64_t> order_;
    std::vector<double> areas_;
};

}  // namespace

std::unique_ptr<Detector> make_mtcnn_detector(const std::vector<std::string> &paths) {
    return std::make_unique<MtcnnDetector>(paths);
}

}  // namespace fk
