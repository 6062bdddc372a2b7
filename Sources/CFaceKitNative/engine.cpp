// fk_graph's layer vocabulary on oneDNN primitives. The plan follows
// OpenCV 4.6's semantics layer by layer; whatever it cannot match exactly is
// refused (Unsupported) and the caller runs the OpenCV net instead.
//
// Layouts: convolutions and inner products take format_tag::any, so oneDNN
// picks its blocked layouts; other primitives run on whatever layout their
// input has; a reorder is inserted only where a layout is required (plain
// for Flatten/Reshape/Permute, custom loops and outputs). Fusions: a Scale
// with weights (folded batch norm) into the preceding Convolution or
// InnerProduct, activations and PReLU as post-ops, zero Padding into the
// following convolutions' padding. Activation buffers share a few blocks by
// liveness; one scratchpad serves every primitive of a net.
#include "engine.hpp"

#include <dnnl.hpp>
#include <omp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <unordered_map>

namespace fk::engine {
namespace {

namespace dn = dnnl;
using md_t = dn::memory::desc;
using dims_t = dn::memory::dims;
using tag = dn::memory::format_tag;
constexpr auto f32 = dn::memory::data_type::f32;

std::atomic<int> threads_setting{0};

// Threads of a net's primitives (oneDNN sizes them when it creates them).
// Debian's oneDNN runs on libgomp, whose idle threads spin unless
// OMP_WAIT_POLICY says otherwise, and it reads that only from the
// environment at start: on a machine whose cores other processes share, a
// spinning team waits out a time slice of its descheduled thread in every
// primitive (ArcFace: 700 ms a face on two threads against 39 on one). So
// without an explicit count (FACEKIT_THREADS, else fk_set_num_threads), all
// cores only when the policy was chosen.
// macs: the net's multiply-adds per sample; with every core asked for (-1),
// only a net of at least 1 G multiply-adds (VGG-Face 15 G, ArcFace, Facenet)
// gets them: on a small net (SFace 0.57 G, YuNet at 640 x 640 0.34 G) the
// second thread's spinning between passes slows the serial work around it
// more than it helps (cold verify 0.30 s instead of 0.26).
int threads_for_net(double macs) {
    static const bool policy = std::getenv("OMP_WAIT_POLICY") != nullptr;
    static const int environment = [] {
        const char *text = std::getenv("FACEKIT_THREADS");
        return text ? std::atoi(text) : 0;
    }();
    // The user's FACEKIT_THREADS wins over the program's own choice; a
    // program running one image at a time asks for every core (-1).
    if (environment > 0) return environment;
    const int t = threads_setting.load();
    if (t > 0) return t;
    if (t < 0) return macs >= 1e9 ? omp_get_num_procs() : 1;
    return policy ? omp_get_num_procs() : 1;
}

// Runs body with the calling thread's OpenMP team at n threads.
template <typename Body>
void with_threads(int n, Body &&body) {
    const int before = omp_get_max_threads();
    omp_set_num_threads(n);
    try {
        body();
    } catch (...) {
        omp_set_num_threads(before);
        throw;
    }
    omp_set_num_threads(before);
}

// libgomp's entry point for `#pragma omp parallel` (this target is not built
// with -fopenmp): runs fn on the team oneDNN's primitives already use.
extern "C" void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);

// y = bias + sum over the nonzero x[i] of x[i] * row i of w (k rows of n,
// inputs outer). Each thread of the team takes a run of the nonzero rows and
// sums into its own vector (thread 0 into y), added up afterwards: each
// streams whole rows, four at a time, fetching the next four as it goes
// (measured on fc6's 411 MB: ~42 GB/s on two threads against ~29 with the
// outputs split between the threads).
struct SparseRows {
    const float *x, *w, *bias;
    float *y, *partial;  // partial: n floats for each thread after the first
    const int *nonzero;
    size_t count, n;
    int parts;
};

void sparse_rows_part(void *data) {
    SparseRows &g = *static_cast<SparseRows *>(data);
    const size_t parts = static_cast<size_t>(omp_get_num_threads()), t = static_cast<size_t>(omp_get_thread_num());
    if (t == 0) g.parts = static_cast<int>(parts);
    const size_t j0 = g.count * t / parts, j1 = g.count * (t + 1) / parts, n = g.n;
    float *y = t == 0 ? g.y : g.partial + (t - 1) * n;
    if (t == 0) std::copy_n(g.bias, n, y);
    else std::fill_n(y, n, 0.f);
    auto row = [&](size_t j) { return g.w + static_cast<size_t>(g.nonzero[std::min(j, j1 - 1)]) * n; };
    size_t j = j0;
    for (; j + 4 <= j1; j += 4) {
        const float a0 = g.x[g.nonzero[j]], a1 = g.x[g.nonzero[j + 1]], a2 = g.x[g.nonzero[j + 2]], a3 = g.x[g.nonzero[j + 3]];
        const float *w0 = row(j), *w1 = row(j + 1), *w2 = row(j + 2), *w3 = row(j + 3);
        const float *p0 = row(j + 4), *p1 = row(j + 5), *p2 = row(j + 6), *p3 = row(j + 7);
        size_t c0 = 0;
        for (; c0 + 16 <= n; c0 += 16) {
            // Non-temporal: each weight is read once a pass.
            __builtin_prefetch(p0 + c0, 0, 0);
            __builtin_prefetch(p1 + c0, 0, 0);
            __builtin_prefetch(p2 + c0, 0, 0);
            __builtin_prefetch(p3 + c0, 0, 0);
            for (size_t c = c0; c < c0 + 16; ++c) y[c] += a0 * w0[c] + a1 * w1[c] + a2 * w2[c] + a3 * w3[c];
        }
        for (size_t c = c0; c < n; ++c) y[c] += a0 * w0[c] + a1 * w1[c] + a2 * w2[c] + a3 * w3[c];
    }
    for (; j < j1; ++j) {
        const float a = g.x[g.nonzero[j]], *w = row(j);
        for (size_t c = 0; c < n; ++c) y[c] += a * w[c];
    }
}

struct Unsupported : std::runtime_error {
    using std::runtime_error::runtime_error;
};
[[noreturn]] void refuse(const std::string &why) { throw Unsupported(why); }

dims_t to_dims(const std::vector<int> &s) { return dims_t(s.begin(), s.end()); }
size_t total(const std::vector<int> &s) {
    size_t n = 1;
    for (int d : s) n *= static_cast<size_t>(d);
    return n;
}
md_t plain(const std::vector<int> &s) {
    static const tag tags[] = {tag::a, tag::ab, tag::abc, tag::abcd, tag::abcde};
    if (s.empty() || s.size() > 5) refuse("a tensor of rank " + std::to_string(s.size()));
    return md_t(to_dims(s), f32, tags[s.size() - 1]);
}

struct Act {
    dn::algorithm alg;
    float alpha, beta;
};

enum class Kind { Input, Conv, Pad, Act, Softmax, Scale, Mul, PRelu, Pool, View, Permute, IP, Concat, Elt, Norm, LRN, Pass, Resize };

struct Op {
    Kind kind = Kind::Input;
    std::vector<int> in, shape;
    int kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pb = 0, pl = 0, pr = 0, group = 1, nout = 0;
    bool bias = false, exclude = false, across = true;
    dn::algorithm alg = dn::algorithm::undef;
    std::vector<Act> acts;
    std::vector<float> mul, add, coeff;  // Scale weights and bias, PReLU slopes, Eltwise sum coefficients
    std::vector<int> order;
    float value = 0, p = 2, eps = 1e-10f, alpha = 1, beta = 0.75f, k = 1;
    int size = 5;
    // The plan's decisions.
    int fused = 0;          // computed inside this layer's primitive
    int fold_scale = 0;     // Conv/IP: the Scale folded into its weights
    std::vector<int> chain; // post-op layers
    bool folded_pad = false;
};

// A layer's parameters, refused when one is not understood.
struct Params {
    const cv::dnn::LayerParams &lp;
    const std::string &layer;
    Params(const Layer &l, std::initializer_list<const char *> known) : lp(l.params), layer(l.name) {
        for (auto it = lp.begin(); it != lp.end(); ++it)
            if (std::none_of(known.begin(), known.end(), [&](const char *k) { return it->first == k; }))
                refuse("layer '" + layer + "' (" + l.type + "): parameter '" + it->first + "'");
    }
    bool has(const char *k) const { return lp.has(k); }
    int i(const char *k, int def) const { return lp.has(k) ? lp.get<int>(k) : def; }
    float f(const char *k, float def) const { return lp.has(k) ? lp.get<float>(k) : def; }
    std::string s(const char *k, const std::string &def) const {
        std::string v = lp.has(k) ? std::string(lp.get<cv::String>(k)) : def;
        std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
        return v;
    }
    std::vector<int> ints(const char *k) const {
        const auto &v = lp.get(k);
        std::vector<int> out;
        for (int j = 0; j < v.size(); ++j) out.push_back(v.get<int>(j));
        return out;
    }
    // OpenCV's two spellings: `all` (one or two values) or base_h and base_w.
    void hw(const char *base, const char *all, int &h, int &w, int def) const {
        if (has(all)) {
            auto v = ints(all);
            if (v.size() == 1) h = w = v[0];
            else if (v.size() == 2) h = v[0], w = v[1];
            else refuse("layer '" + layer + "': " + all + " with " + std::to_string(v.size()) + " values");
            return;
        }
        h = i((std::string(base) + "_h").c_str(), def);
        w = i((std::string(base) + "_w").c_str(), def);
    }
    void pads(int &t, int &b, int &l, int &r) const {
        int sides = has("pad_t") + has("pad_b") + has("pad_l") + has("pad_r");
        if (sides == 4) {
            t = i("pad_t", 0), b = i("pad_b", 0), l = i("pad_l", 0), r = i("pad_r", 0);
        } else if (sides) {
            refuse("layer '" + layer + "': some of pad_t/b/l/r");  // OpenCV would ignore them
        } else if (has("pad")) {
            auto v = ints("pad");
            if (v.size() == 1) t = b = l = r = v[0];
            else if (v.size() == 2) t = b = v[0], l = r = v[1];
            else if (v.size() == 4) t = v[0], l = v[1], b = v[2], r = v[3];
            else refuse("layer '" + layer + "': pad with " + std::to_string(v.size()) + " values");
        } else {
            t = b = i("pad_h", 0);
            l = r = i("pad_w", 0);
        }
        if (t < 0 || b < 0 || l < 0 || r < 0) refuse("layer '" + layer + "': negative padding");
    }
};

const cv::Mat &blob(const Layer &l, size_t index, size_t count) {
    if (l.params.blobs.size() <= index || l.params.blobs[index].total() != count || l.params.blobs[index].type() != CV_32F ||
        !l.params.blobs[index].isContinuous())
        refuse("layer '" + l.name + "': blob " + std::to_string(index) + " is not " + std::to_string(count) + " floats");
    return l.params.blobs[index];
}
std::vector<float> floats(const cv::Mat &m) { return std::vector<float>(m.ptr<float>(), m.ptr<float>() + m.total()); }

// One layer's meaning and output shape, from its type, parameters, blobs and
// input shapes; OpenCV 4.6's shape rules.
Op parse(const Layer &l, const std::vector<Op> &ops) {
    Op o;
    o.in = l.inputs;
    std::vector<std::vector<int>> in;
    for (int i : l.inputs) in.push_back(ops[i].shape);
    const std::string &t = l.type;
    auto need = [&](bool ok, const std::string &what) {
        if (!ok) refuse("layer '" + l.name + "' (" + t + "): " + what);
    };
    auto one_input = [&](std::initializer_list<size_t> ranks) {
        need(in.size() == 1, "takes one input");
        need(std::find(ranks.begin(), ranks.end(), in[0].size()) != ranks.end(), "input of rank " + std::to_string(in[0].size()));
    };
    auto no_blobs = [&] { need(l.params.blobs.empty(), "unexpected blobs"); };
    o.shape = in.empty() ? std::vector<int>{} : in[0];

    if (t == "Convolution") {
        Params p(l, {"kernel_size", "kernel_h", "kernel_w", "stride", "stride_h", "stride_w", "pad", "pad_h", "pad_w", "pad_t", "pad_b",
                     "pad_l", "pad_r", "dilation", "dilation_h", "dilation_w", "num_output", "bias_term", "group"});
        one_input({4});
        o.kind = Kind::Conv;
        p.hw("kernel", "kernel_size", o.kh, o.kw, 0);
        p.hw("stride", "stride", o.sh, o.sw, 1);
        p.hw("dilation", "dilation", o.dh, o.dw, 1);
        p.pads(o.pt, o.pb, o.pl, o.pr);
        o.nout = p.i("num_output", 0);
        o.group = p.i("group", 1);
        const int c = in[0][1];
        need(o.kh > 0 && o.kw > 0 && o.sh > 0 && o.sw > 0 && o.dh > 0 && o.dw > 0 && o.nout > 0 && o.group > 0 &&
                 c % o.group == 0 && o.nout % o.group == 0, "geometry");
        blob(l, 0, static_cast<size_t>(o.nout) * (c / o.group) * o.kh * o.kw);
        need(l.params.blobs[0].dims == 4 && l.params.blobs[0].size[0] == o.nout, "weights of another shape");
        o.bias = l.params.blobs.size() >= 2;
        need(l.params.blobs.size() <= 2 && p.i("bias_term", o.bias) == o.bias, "bias_term and blobs disagree");
        if (o.bias) blob(l, 1, o.nout);
        const int oh = in[0][2] + o.pt + o.pb - o.dh * (o.kh - 1) - 1, ow = in[0][3] + o.pl + o.pr - o.dw * (o.kw - 1) - 1;
        need(oh >= 0 && ow >= 0, "kernel larger than its input");
        o.shape = {in[0][0], o.nout, oh / o.sh + 1, ow / o.sw + 1};
    } else if (t == "Padding") {
        Params p(l, {"paddings", "value", "type"});
        one_input({4});
        no_blobs();
        o.kind = Kind::Pad;
        need(p.s("type", "constant") == "constant", "only constant padding");
        auto v = p.ints("paddings");
        need(v.size() == 8 && v[0] == 0 && v[1] == 0 && v[2] == 0 && v[3] == 0, "only spatial paddings");
        need(std::all_of(v.begin(), v.end(), [](int x) { return x >= 0; }), "negative padding");
        o.pt = v[4], o.pb = v[5], o.pl = v[6], o.pr = v[7];
        o.value = p.f("value", 0);
        o.shape = {in[0][0], in[0][1], in[0][2] + o.pt + o.pb, in[0][3] + o.pl + o.pr};
    } else if (t == "ReLU" || t == "ReLU6" || t == "Sigmoid" || t == "TanH" || t == "Power") {
        Params p(l, {"negative_slope", "min_value", "max_value", "power", "scale", "shift"});
        one_input({2, 4});
        no_blobs();
        o.kind = Kind::Act;
        auto only = [&](std::initializer_list<const char *> keys) {
            for (const char *k : {"negative_slope", "min_value", "max_value", "power", "scale", "shift"})
                need(!p.has(k) || std::any_of(keys.begin(), keys.end(), [&](const char *x) { return std::string(x) == k; }),
                     std::string("parameter '") + k + "'");
        };
        if (t == "ReLU") {
            only({"negative_slope"});
            o.acts = {{dn::algorithm::eltwise_relu, p.f("negative_slope", 0), 0}};
        } else if (t == "ReLU6") {
            only({"min_value", "max_value"});
            o.acts = {{dn::algorithm::eltwise_clip, p.f("min_value", 0), p.f("max_value", 6)}};
        } else if (t == "Sigmoid") {
            only({});
            o.acts = {{dn::algorithm::eltwise_logistic, 0, 0}};
        } else if (t == "TanH") {
            only({});
            o.acts = {{dn::algorithm::eltwise_tanh, 0, 0}};
        } else {
            only({"power", "scale", "shift"});
            const float power = p.f("power", 1), scale = p.f("scale", 1), shift = p.f("shift", 0);
            if (scale != 1 || shift != 0) o.acts.push_back({dn::algorithm::eltwise_linear, scale, shift});
            if (power != 1) o.acts.push_back({dn::algorithm::eltwise_pow, 1, power});
        }
    } else if (t == "Softmax") {
        Params p(l, {"axis", "log_softmax"});
        one_input({2, 4});
        no_blobs();
        o.kind = Kind::Softmax;
        int axis = p.i("axis", 1);
        need((axis < 0 ? axis + static_cast<int>(in[0].size()) : axis) == 1 && !p.i("log_softmax", 0), "only softmax over axis 1");
    } else if (t == "Scale") {
        Params p(l, {"axis", "bias_term"});
        need(p.i("axis", 1) == 1, "only axis 1");
        need(!in.empty() && (in[0].size() == 2 || in[0].size() == 4), "input rank");
        const int c = in[0][1];
        if (in.size() == 2) {
            no_blobs();
            need(!p.i("bias_term", 0), "bias with a second input");
            need(in[1] == std::vector<int>{in[0][0], c} || in[1] == std::vector<int>{in[0][0], c, 1, 1}, "second input not (N, C[, 1, 1])");
            o.kind = Kind::Mul;
        } else {
            need(in.size() == 1, "one or two inputs");
            o.kind = Kind::Scale;
            o.bias = p.i("bias_term", 0);
            need(l.params.blobs.size() == (o.bias ? 2u : 1u), "blobs and bias_term disagree");
            o.mul = floats(blob(l, 0, c));
            if (o.bias) o.add = floats(blob(l, 1, c));
        }
    } else if (t == "PReLU") {
        Params p(l, {});
        one_input({2, 4});
        o.kind = Kind::PRelu;
        const int c = in[0][1];
        need(l.params.blobs.size() == 1 && (l.params.blobs[0].total() == 1 || l.params.blobs[0].total() == static_cast<size_t>(c)),
             "slopes");
        o.mul = floats(blob(l, 0, l.params.blobs[0].total()));
        if (o.mul.size() == 1) o.mul.assign(c, o.mul[0]);
    } else if (t == "Pooling") {
        Params p(l, {"pool", "kernel_size", "kernel_h", "kernel_w", "stride", "stride_h", "stride_w", "pad", "pad_h", "pad_w", "pad_t",
                     "pad_b", "pad_l", "pad_r", "ceil_mode", "ave_pool_padded_area", "global_pooling"});
        one_input({4});
        no_blobs();
        o.kind = Kind::Pool;
        const std::string pool = p.s("pool", "max");
        need(pool == "max" || pool == "ave", "pool=" + pool);
        const int h = in[0][2], w = in[0][3];
        if (p.i("global_pooling", 0)) {
            o.kh = h, o.kw = w;
        } else {
            p.hw("kernel", "kernel_size", o.kh, o.kw, 0);
            p.hw("stride", "stride", o.sh, o.sw, 1);
            p.pads(o.pt, o.pb, o.pl, o.pr);
        }
        need(o.kh > 0 && o.kw > 0 && o.sh > 0 && o.sw > 0 && h + o.pt + o.pb >= o.kh && w + o.pl + o.pr >= o.kw, "geometry");
        const bool ceil_mode = p.i("ceil_mode", 1);
        auto out = [&](int size, int k, int s, int pad_begin, int pad_end) {
            float d = static_cast<float>(size + pad_begin + pad_end - k) / s;
            int n = 1 + static_cast<int>(ceil_mode ? std::ceil(d) : std::floor(d));
            // OpenCV (after Caffe): the last window starts inside the image
            // or its padding, else it is dropped.
            if (pad_end && (n - 1) * s >= size + pad_end) --n;
            return n;
        };
        const int oh = out(h, o.kh, o.sh, o.pt, o.pb), ow = out(w, o.kw, o.sw, o.pl, o.pr);
        o.shape = {in[0][0], in[0][1], oh, ow};
        // A window wholly in the padding gives OpenCV's -FLT_MAX or 0/0.
        need(o.kh > o.pt && o.kw > o.pl && (oh - 1) * o.sh - o.pt < h && (ow - 1) * o.sw - o.pl < w, "a window outside the input");
        // oneDNN takes the output size from the padding: the end padding
        // becomes what reaches the end of the last window (windows are
        // clipped to the input, as OpenCV's are), or any amount short of the
        // next window.
        const int eb = (oh - 1) * o.sh + o.kh - h - o.pt, er = (ow - 1) * o.sw + o.kw - w - o.pl;
        need(eb + o.sh > 0 && er + o.sw > 0, "windows that end before the input does");
        const bool overhang = eb > o.pb || er > o.pr, padded = o.pt || o.pb || o.pl || o.pr;
        o.pb = std::max(eb, 0), o.pr = std::max(er, 0);
        if (pool == "max") {
            o.alg = dn::algorithm::pooling_max;
        } else if (!p.i("ave_pool_padded_area", 1) || !padded) {
            // OpenCV divides by the window clipped to the input.
            o.alg = dn::algorithm::pooling_avg_exclude_padding;
        } else {
            // By the window clipped to the padded input: the whole kernel
            // unless a window overhangs the padding too.
            need(!overhang, "average over padding with windows past it");
            o.alg = dn::algorithm::pooling_avg_include_padding;
        }
    } else if (t == "Flatten") {
        Params p(l, {"axis", "end_axis"});
        one_input({2, 4});
        no_blobs();
        const int rank = static_cast<int>(in[0].size());
        int axis = p.i("axis", 1), end = p.i("end_axis", -1);
        if (axis < 0) axis += rank;
        if (end < 0) end += rank;
        need(axis == 1 && end == rank - 1, "only axis 1 to the end");
        o.kind = Kind::View;
        o.shape = {in[0][0], static_cast<int>(total(in[0]) / in[0][0])};
    } else if (t == "Reshape") {
        Params p(l, {"dim"});
        one_input({2, 4});
        no_blobs();
        o.kind = Kind::View;
        auto dim = p.ints("dim");
        need(!dim.empty() && dim.size() <= 5, "dim");
        int infer = -1;
        size_t known = 1;
        o.shape.clear();
        for (size_t i = 0; i < dim.size(); ++i) {
            int d = dim[i];
            if (d == 0) {
                need(i < in[0].size(), "dim 0 beyond the input's rank");
                d = in[0][i];
            }
            if (d == -1) {
                need(infer < 0, "two inferred dims");
                infer = static_cast<int>(i);
                d = 1;
            }
            need(d > 0, "dim");
            o.shape.push_back(d);
            known *= d;
        }
        if (infer >= 0) {
            need(known && total(in[0]) % known == 0, "dim does not divide the input");
            o.shape[infer] = static_cast<int>(total(in[0]) / known);
        }
        need(total(o.shape) == total(in[0]), "dim changes the size");
    } else if (t == "Resize") {
        // Nearest upsampling by whole factors: oneDNN's nearest source pixel,
        // round((dst + 0.5) / f - 0.5), is then floor(dst / f), as OpenCV's.
        Params p(l, {"interpolation", "zoom_factor_x", "zoom_factor_y", "align_corners", "half_pixel_centers"});
        one_input({4});
        no_blobs();
        o.kind = Kind::Resize;
        need(p.s("interpolation", "") == "nearest", "interpolation other than nearest");
        need(!p.i("align_corners", 0) && !p.i("half_pixel_centers", 0), "aligned or half-pixel corners");
        o.kh = p.i("zoom_factor_y", 0);
        o.kw = p.i("zoom_factor_x", 0);
        need(o.kh >= 1 && o.kw >= 1 && float(o.kh) == p.f("zoom_factor_y", 0) && float(o.kw) == p.f("zoom_factor_x", 0),
             "zoom factors that are not whole");
        o.shape = {in[0][0], in[0][1], in[0][2] * o.kh, in[0][3] * o.kw};
    } else if (t == "Permute") {
        Params p(l, {"order"});
        one_input({2, 4});
        no_blobs();
        o.kind = Kind::Permute;
        o.order = p.ints("order");
        std::vector<int> sorted = o.order;
        std::sort(sorted.begin(), sorted.end());
        need(o.order.size() == in[0].size(), "order of another rank");
        for (size_t i = 0; i < sorted.size(); ++i) need(sorted[i] == static_cast<int>(i), "order is not a permutation");
        for (size_t i = 0; i < o.order.size(); ++i) o.shape[i] = in[0][o.order[i]];
    } else if (t == "InnerProduct") {
        Params p(l, {"num_output", "bias_term", "axis"});
        one_input({2, 4});
        o.kind = Kind::IP;
        o.nout = p.i("num_output", 0);
        need(o.nout > 0 && p.i("axis", 1) == 1, "num_output and axis 1");
        blob(l, 0, static_cast<size_t>(o.nout) * (total(in[0]) / in[0][0]));
        o.bias = p.i("bias_term", 1);
        need(l.params.blobs.size() == (o.bias ? 2u : 1u), "blobs and bias_term disagree");
        if (o.bias) blob(l, 1, o.nout);
        o.shape = {in[0][0], o.nout};
    } else if (t == "Concat") {
        Params p(l, {"axis"});
        no_blobs();
        need(!in.empty() && (in[0].size() == 2 || in[0].size() == 4), "input rank");
        int axis = p.i("axis", 1);
        need((axis < 0 ? axis + static_cast<int>(in[0].size()) : axis) == 1, "only axis 1");
        o.kind = Kind::Concat;
        o.shape[1] = 0;
        for (auto &s : in) {
            need(s.size() == in[0].size(), "inputs of different ranks");
            for (size_t d = 0; d < s.size(); ++d) need(d == 1 || s[d] == in[0][d], "inputs of different shapes");
            o.shape[1] += s[1];
        }
    } else if (t == "Eltwise") {
        Params p(l, {"operation", "coeff"});
        no_blobs();
        need(in.size() >= 2 && (in[0].size() == 2 || in[0].size() == 4), "inputs");
        for (auto &s : in) need(s == in[0], "inputs of different shapes");
        o.kind = Kind::Elt;
        const std::string op = p.s("operation", "sum");
        if (op == "sum") o.alg = dn::algorithm::binary_add;
        else if (op == "prod") o.alg = dn::algorithm::binary_mul;
        else if (op == "max") o.alg = dn::algorithm::binary_max;
        else if (op == "div") o.alg = dn::algorithm::binary_div;
        else refuse("layer '" + l.name + "': operation " + op);
        if (p.has("coeff")) {
            need(op == "sum", "coefficients beyond sum");
            const auto &v = l.params.get("coeff");
            need(v.size() == static_cast<int>(in.size()), "one coefficient per input");
            for (int j = 0; j < v.size(); ++j) o.coeff.push_back(v.get<float>(j));
            if (std::all_of(o.coeff.begin(), o.coeff.end(), [](float c) { return c == 1; })) o.coeff.clear();
        }
    } else if (t == "Normalize") {
        Params p(l, {"p", "eps", "across_spatial"});
        one_input({2, 4});
        no_blobs();
        o.kind = Kind::Norm;
        o.p = p.f("p", 2);
        o.eps = p.f("eps", 1e-10f);
        o.across = p.i("across_spatial", 1);
        need(o.p > 0, "p");
    } else if (t == "LRN") {
        Params p(l, {"norm_region", "local_size", "alpha", "beta", "bias", "norm_by_size"});
        one_input({4});
        no_blobs();
        o.kind = Kind::LRN;
        need(p.s("norm_region", "across_channels") == "across_channels", "only ACROSS_CHANNELS");
        o.size = p.i("local_size", 5);
        need(o.size > 0 && o.size % 2 == 1, "local_size must be odd");
        o.k = p.f("bias", 1);
        o.beta = p.f("beta", 0.75f);
        // oneDNN divides alpha by the window; OpenCV only with norm_by_size.
        o.alpha = p.f("alpha", 1) * (p.i("norm_by_size", 1) ? 1 : o.size);
    } else if (t == "Dropout" || t == "Identity") {
        Params p(l, {"dropout_ratio"});
        one_input({2, 4});
        no_blobs();
        o.kind = Kind::Pass;
    } else {
        refuse("layer '" + l.name + "': type " + t);
    }
    for (int d : o.shape) need(d > 0, "an empty output");
    return o;
}

}  // namespace

struct Net::Impl {
    dn::engine eng{dn::engine::kind::cpu, 0};
    dn::stream strm{eng};
    std::vector<Op> ops;

    struct Val {
        std::vector<int> shape;
        md_t md;
        dn::memory mem;
        int buf;
        std::vector<int> layouts;  // reorders of it already made
    };
    std::vector<Val> vals;
    std::vector<int> val_of;  // by layer id
    std::vector<std::vector<int>> readers;  // by layer id: the live layers reading it
    struct Buf {
        size_t bytes;
        int first = INT_MAX, last = -1;
    };
    std::vector<Buf> bufs;  // bufs[0]: the caller's input
    std::vector<std::pair<dn::memory, int>> bindings;  // buffer -1: the scratchpad
    struct Step {
        dn::primitive prim;
        std::unordered_map<int, dn::memory> args;
        std::function<void()> fn;
    };
    std::vector<Step> steps;
    size_t scratch = 0, reorders = 0, activation_bytes = 0, winograd = 0, sparse = 0;
    std::vector<std::vector<float>> consts;
    struct Weights {
        int step, arg, layer;
        md_t user, want;
        std::vector<float> mul;
    };
    std::vector<Weights> weights;
    std::vector<dn::memory> loaded;  // each weight's final memory, in weights' order
    std::vector<void *> blocks;
    std::vector<size_t> block_sizes;  // the activation blocks (blocks' first entries)
    std::vector<int> block_of;        // each buffer's block, -1 for none
    void *scratchpad = nullptr;
    dn::memory input;
    std::vector<dn::memory> input_views;
    const std::vector<Layer> *layers = nullptr;
    std::vector<std::pair<dn::memory, size_t>> outs;  // external memory, float offset in a sample's output
    std::vector<std::vector<int>> out_shapes;
    int threads = 1;
    double macs = 0;  // multiply-adds per sample

    ~Impl() {
        for (void *b : blocks) std::free(b);
    }

    dn::primitive_attr attr(const dn::post_ops &post = dn::post_ops()) {
        dn::primitive_attr a;
        a.set_scratchpad_mode(dn::scratchpad_mode::user);
        a.set_post_ops(post);
        return a;
    }
    void use(int buf, int at) {
        if (buf < 0) return;
        bufs[buf].first = std::min(bufs[buf].first, at);
        bufs[buf].last = std::max(bufs[buf].last, at);
    }
    int value(const std::vector<int> &shape, const md_t &md) {
        bufs.push_back({md.get_size()});
        dn::memory m(md, eng, DNNL_MEMORY_NONE);
        bindings.push_back({m, static_cast<int>(bufs.size()) - 1});
        vals.push_back({shape, md, m, static_cast<int>(bufs.size()) - 1, {}});
        return static_cast<int>(vals.size()) - 1;
    }
    // The same buffer seen with another shape or layout.
    int view(int v, const std::vector<int> &shape, const md_t &md) {
        int buf = vals[v].buf;
        dn::memory m(md, eng, DNNL_MEMORY_NONE);
        if (buf == 0) input_views.push_back(m);
        else bindings.push_back({m, buf});
        vals.push_back({shape, md, m, buf, {}});
        return static_cast<int>(vals.size()) - 1;
    }
    dn::memory constant(std::vector<float> data, const md_t &md) {
        consts.push_back(std::move(data));
        return dn::memory(md, eng, consts.back().data());
    }
    void step(const dn::primitive_desc_base &pd, std::unordered_map<int, dn::memory> args, std::initializer_list<int> values) {
        const md_t sd = pd.scratchpad_desc();
        if (sd.get_size()) {
            dn::memory m(sd, eng, DNNL_MEMORY_NONE);
            bindings.push_back({m, -1});
            args[DNNL_ARG_SCRATCHPAD] = m;
            scratch = std::max(scratch, sd.get_size());
        }
        for (int v : values) use(vals[v].buf, static_cast<int>(steps.size()));
        steps.push_back({dn::primitive(pd.get()), std::move(args), {}});
    }
    void custom(std::function<void()> fn, std::initializer_list<int> values) {
        for (int v : values) use(vals[v].buf, static_cast<int>(steps.size()));
        steps.push_back({dn::primitive(), {}, std::move(fn)});
    }
    // v in layout `want`, reordered once however many layers ask.
    int as(int v, md_t want) {
        if (vals[v].md == want) return v;
        for (int c : vals[v].layouts)
            if (vals[c].md == want) return c;
        int n = value(vals[v].shape, want);
        dn::reorder::primitive_desc pd(eng, vals[v].md, eng, want, attr());
        step(pd, {{DNNL_ARG_FROM, vals[v].mem}, {DNNL_ARG_TO, vals[n].mem}}, {v, n});
        vals[v].layouts.push_back(n);
        ++reorders;
        return n;
    }
    int as_plain(int v) { return as(v, plain(vals[v].shape)); }

    // Tries the primitive with the chain's post-ops, then with fewer: a chain
    // oneDNN refuses is run layer by layer instead.
    template <typename Make>
    auto with_chain(Op &o, int channels, std::unordered_map<int, dn::memory> &args, Make make) {
        for (size_t n = o.chain.size() + 1; n-- > 0;) {
            dn::post_ops post;
            std::unordered_map<int, dn::memory> extra;
            int index = 0;
            // Adjacent linear steps (ONNX's x * a then + b) become one:
            // oneDNN 2.6's convolution kernels give wrong values for two
            // eltwise_linear post-ops in a row (GhostFaceNet's hard sigmoid).
            std::vector<Act> pending;
            auto flush = [&] {
                for (const Act &a : pending) {
                    post.append_eltwise(1.f, a.alg, a.alpha, a.beta);
                    ++index;
                }
                pending.clear();
            };
            for (size_t i = 0; i < n; ++i) {
                const Op &c = ops[o.chain[i]];
                if (c.kind != Kind::PRelu) {
                    for (const Act &a : c.acts) {
                        if (a.alg == dn::algorithm::eltwise_linear && !pending.empty() &&
                            pending.back().alg == dn::algorithm::eltwise_linear) {
                            Act &last = pending.back();
                            last = {last.alg, a.alpha * last.alpha, a.alpha * last.beta + a.beta};
                        } else {
                            pending.push_back(a);
                        }
                    }
                    continue;
                }
                flush();
                if (c.kind == Kind::PRelu) {
                    post.append_prelu(1 << 1);
                    std::vector<int> shape(o.shape.size(), 1);
                    shape[1] = channels;
                    extra[DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_WEIGHTS] = constant(c.mul, plain(shape));
                    ++index;
                }
            }
            flush();
            try {
                auto pd = make(attr(post));
                // oneDNN 2.6 accepts some post-ops (PReLU on convolutions)
                // only in its reference kernels, 50x slower than two steps.
                if (n > 0 && std::string(pd.impl_info_str()).rfind("ref", 0) == 0) continue;
                for (size_t i = n; i < o.chain.size(); ++i) ops[o.chain[i]].fused = 0;
                o.chain.resize(n);
                args.insert(extra.begin(), extra.end());
                return pd;
            } catch (const dn::error &) {
                if (n == 0) throw;
            }
        }
        throw std::logic_error("unreachable");
    }
    // A primitive that reads every value of ins (concat, sum) and writes a
    // new value: layer id's output.
    template <typename PD>
    void sources_to_new(int id, const std::vector<int> &ins, const PD &pd) {
        int dst = value(ops[id].shape, pd.dst_desc());
        std::unordered_map<int, dn::memory> args{{DNNL_ARG_DST, vals[dst].mem}};
        for (size_t i = 0; i < ins.size(); ++i) args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = vals[ins[i]].mem;
        step(pd, std::move(args), {dst});
        for (int i : ins) use(vals[i].buf, static_cast<int>(steps.size()) - 1);
        val_of[id] = dst;
    }
    // A primitive that reads v and writes a new value: layer id's output.
    template <typename PD>
    void source_to_new(int id, int v, const PD &pd) {
        int dst = value(ops[id].shape, pd.dst_desc());
        step(pd, {{DNNL_ARG_SRC, vals[v].mem}, {DNNL_ARG_DST, vals[dst].mem}}, {v, dst});
        val_of[id] = dst;
    }
    void produce(const Op &o, int layer, int v) {
        val_of[layer] = v;
        if (o.fold_scale) val_of[o.fold_scale] = v;
        for (int c : o.chain) val_of[c] = v;
    }
    // A convolution's or inner product's step: the bias (with a folded
    // Scale's shift) now, the weights (with its factors) when they load.
    // A primitive on v's own layout, else on the plain one.
    template <typename Make>
    auto own_or_plain(int &v, Make make) {
        try {
            return make(vals[v].md);
        } catch (const dn::error &) {
            v = as_plain(v);
            return make(vals[v].md);
        }
    }
    // Layer id's bias (zeros without one) with a folded Scale's shift, and
    // in mul the Scale's factors, which the weights take when they load.
    std::vector<float> folded_bias(int id, std::vector<float> &mul) const {
        const Op &o = ops[id];
        std::vector<float> b(static_cast<size_t>(o.nout), 0.f);
        if (o.bias) b = floats(layers->at(id).params.blobs[1]);
        if (o.fold_scale) {
            const Op &sc = ops[o.fold_scale];
            mul = sc.mul;
            for (int i = 0; i < o.nout; ++i) b[i] = b[i] * sc.mul[i] + (sc.add.empty() ? 0.f : sc.add[i]);
        }
        return b;
    }
    template <typename PD>
    void weighted(int id, int src, const PD &pd, const md_t &user, std::unordered_map<int, dn::memory> args) {
        const Op &o = ops[id];
        int s = as(src, pd.src_desc()), dst = value(o.shape, pd.dst_desc());
        args[DNNL_ARG_SRC] = vals[s].mem;
        args[DNNL_ARG_DST] = vals[dst].mem;
        args[DNNL_ARG_WEIGHTS] = dn::memory(pd.weights_desc(), eng, DNNL_MEMORY_NONE);
        std::vector<float> mul;
        if (o.bias || o.fold_scale) args[DNNL_ARG_BIAS] = constant(folded_bias(id, mul), pd.bias_desc());
        weights.push_back({static_cast<int>(steps.size()), DNNL_ARG_WEIGHTS, id, user, pd.weights_desc(), std::move(mul)});
        step(pd, std::move(args), {s, dst});
        produce(o, id, dst);
    }

    // Winograd (oneDNN's jit_wino_4x3 / 2x3, never chosen by
    // convolution_auto at batch 1) does a 3x3 stride-1 convolution in about
    // half the time of the direct kernels on avx512_core, at a relative error
    // of ~2e-6 a layer (VGG-Face 58 -> 27 ms of convolutions on two threads).
    // It loses where the input has few channels (a first layer on RGB: 3x
    // slower), and under 100 M multiply-adds the tens of microseconds it
    // saves go to reordering activations between its blocked layout and the
    // neighbours' (OpenFace 1.4 -> 2.2 ms). The choice is by shape alone, so
    // a net's arithmetic does not depend on timings.
    static bool winograd_shape(const Op &o, int in_channels) {
        return o.kind == Kind::Conv && o.group == 1 && o.kh == 3 && o.kw == 3 && o.sh == 1 && o.sw == 1 && o.dh == 1 &&
               o.dw == 1 && in_channels >= 16 && double(total(o.shape)) * in_channels * 9 >= 100e6;
    }
    // Whether every reader of layer id's output (after its planned fusions,
    // and through zero paddings folded into their convolutions) is a
    // convolution of Winograd's shape.
    bool feeds_winograd(int id) const {
        const Op &o = ops[id];
        const int tail = !o.chain.empty() ? o.chain.back() : o.fold_scale ? o.fold_scale : id;
        std::function<bool(int)> all_winograd = [&](int layer) {
            const auto &rs = readers[layer];
            return !rs.empty() && std::all_of(rs.begin(), rs.end(), [&](int r) {
                return ops[r].folded_pad ? all_winograd(r) : winograd_shape(ops[r], o.nout);
            });
        };
        return all_winograd(tail);
    }

    // Whether layer id's output is a ReLU's, seen through max pooling,
    // reshapes and folded zero padding: often zero, never negative.
    bool after_relu(int id) const {
        for (;;) {
            const Op &o = ops[id];
            if ((o.kind == Kind::Pool && o.alg == dn::algorithm::pooling_max) || o.kind == Kind::View || o.kind == Kind::Pass ||
                (o.kind == Kind::Pad && o.value == 0)) {
                id = o.in[0];
                continue;
            }
            return o.kind == Kind::Act && !o.acts.empty() && o.acts.back().alg == dn::algorithm::eltwise_relu &&
                   o.acts.back().alpha == 0;
        }
    }

    // A large matrix-vector product (batch 1, weights beyond the caches:
    // VGG-Face's fc6 and fc7) is bound by reading its weights, and after a
    // ReLU many inputs are zero (VGG-Face's pool5: ~40% with random weights).
    // Only there: a dense input would gain nothing (ArcFace's 51 MB dense).
    // Its weights are kept inputs-outer, so the row of each nonzero input is
    // contiguous and the rows of zero inputs are never read (fc6: 9 -> ~5 ms a
    // face). Same products as the inner product, summed in another order.
    // ReLU and linear post-ops are applied here; other chains stay on oneDNN.
    bool sparse_rows(int id, int in_layer, const std::vector<int> &ishape, const dims_t &wd, tag user_tag) {
        const Op &o = ops[id];
        const size_t k = total(ishape) / static_cast<size_t>(ishape[0]), n = static_cast<size_t>(o.nout);
        if (ishape[0] != 1 || k * n * sizeof(float) < (size_t(32) << 20) || !after_relu(in_layer)) return false;
        std::vector<Act> acts;
        for (int c : o.chain) {
            if (ops[c].kind != Kind::Act) return false;
            for (const Act &a : ops[c].acts) {
                if (a.alg != dn::algorithm::eltwise_relu && a.alg != dn::algorithm::eltwise_linear) return false;
                acts.push_back(a);
            }
        }
        const int s = as_plain(val_of[in_layer]), dst = value(o.shape, plain(o.shape));
        std::vector<float> mul, bias = folded_bias(id, mul);
        // Logical dims (O, C, H, W) or (O, K), physically inputs outer.
        const md_t want(wd, f32, wd.size() == 4 ? tag::bcda : tag::ba);
        const int at = static_cast<int>(steps.size());
        weights.push_back({at, DNNL_ARG_WEIGHTS, id, md_t(wd, f32, user_tag), want, std::move(mul)});
        std::vector<int> nonzero(k);
        std::vector<float> partial(n * static_cast<size_t>(std::max(threads - 1, 0)));
        custom([this, s, dst, at, k, n, bias = std::move(bias), acts, nonzero, partial]() mutable {
            const float *x = static_cast<const float *>(vals[s].mem.get_data_handle());
            float *y = static_cast<float *>(vals[dst].mem.get_data_handle());
            size_t count = 0;
            for (size_t i = 0; i < k; ++i)
                if (x[i] != 0.f) nonzero[count++] = static_cast<int>(i);
            SparseRows job{x, static_cast<const float *>(steps[at].args.at(DNNL_ARG_WEIGHTS).get_data_handle()), bias.data(), y,
                           partial.data(), nonzero.data(), count, n, 1};
            GOMP_parallel(sparse_rows_part, &job, static_cast<unsigned>(threads), 0);
            for (int t = 1; t < job.parts; ++t)
                for (size_t i = 0; i < n; ++i) y[i] += partial[static_cast<size_t>(t - 1) * n + i];
            for (const Act &a : acts)
                for (size_t i = 0; i < n; ++i)
                    y[i] = a.alg == dn::algorithm::eltwise_relu ? (y[i] > 0 ? y[i] : y[i] * a.alpha) : a.alpha * y[i] + a.beta;
        }, {s, dst});
        produce(o, id, dst);
        ++sparse;
        return true;
    }

    void build(int id);
    void eltwise(int id, int v, const std::vector<Act> &acts);
    void allocate();
};

void Net::Impl::build(int id) {
    Op &o = ops[id];
    const auto fwd = dn::prop_kind::forward_inference;
    int v = o.in.empty() ? -1 : val_of[o.in[0]];
    switch (o.kind) {
    case Kind::Input: break;
    case Kind::Pass: val_of[id] = v; break;
    case Kind::Conv: {
        int src = o.in[0], pt = o.pt, pb = o.pb, pl = o.pl, pr = o.pr;
        if (ops[src].folded_pad) {
            pt += ops[src].pt, pb += ops[src].pb, pl += ops[src].pl, pr += ops[src].pr;
            src = ops[src].in[0];
        }
        const auto &ishape = ops[src].shape;
        const int c = ishape[1], g = o.group;
        dims_t wd = g == 1 ? dims_t{o.nout, c, o.kh, o.kw} : dims_t{g, o.nout / g, c / g, o.kh, o.kw};
        const bool bias = o.bias || o.fold_scale;
        // A first layer (few input channels) feeding Winograd writes the
        // blocked layout those kernels read: oneDNN would otherwise pick
        // channels-last for it and reorder 224 x 224 x 64 floats after it
        // (VGG-Face: 0.6 + 0.45 ms -> 0.5 ms).
        const bool first16 = c < 16 && g == 1 && o.nout % 16 == 0 && feeds_winograd(id);
        auto desc = [&](dn::algorithm alg) {
            return dn::convolution_forward::desc(fwd, alg, md_t(to_dims(ishape), f32, tag::any), md_t(wd, f32, tag::any),
                                                 bias ? md_t({o.nout}, f32, tag::a) : md_t(), md_t(to_dims(o.shape), f32, first16 ? tag::aBcd16b : tag::any),
                                                 {o.sh, o.sw}, {o.dh - 1, o.dw - 1}, {pt, pl}, {pb, pr});
        };
        const bool keras = !layers->at(id).channels_last.empty();
        const tag user = keras ? tag::ohwi : tag::oihw;  // the layout a plain (ungrouped) kernel arrives in
        // A convolution whose kernel covers its whole unpadded input (VGG's
        // fc6: 7x7 over 7x7) is a matrix-vector product, bound by reading its
        // weights; oneDNN's inner product streams them faster than its
        // convolution kernels (fc6's 411 MB: 9.0 -> 7.9 ms a face on two
        // threads). Its (N, O) result is the layer's (N, O, 1, 1), byte for byte.
        if (g == 1 && pt == 0 && pb == 0 && pl == 0 && pr == 0 && o.dh == 1 && o.dw == 1 && o.sh == 1 && o.sw == 1 &&
            o.kh == ishape[2] && o.kw == ishape[3] && o.shape[2] == 1 && o.shape[3] == 1) {
            if (sparse_rows(id, src, ishape, wd, user)) break;
            dn::inner_product_forward::desc ipd(fwd, md_t(to_dims(ishape), f32, tag::any), md_t(wd, f32, tag::any),
                                                bias ? md_t({o.nout}, f32, tag::a) : md_t(), md_t({ishape[0], o.nout}, f32, tag::ab));
            std::unordered_map<int, dn::memory> args;
            auto pd = with_chain(o, o.nout, args, [&](const dn::primitive_attr &a) { return dn::inner_product_forward::primitive_desc(ipd, a, eng); });
            weighted(id, val_of[src], pd, md_t(wd, f32, user), std::move(args));
            produce(o, id, view(val_of[id], o.shape, md_t(to_dims(o.shape), f32, tag::nchw)));
            break;
        }
        const bool wino = winograd_shape(o, c);
        // Only with the whole chain fused: a post-op Winograd refuses
        // (PReLU) would run as a step on its blocked layout, where oneDNN
        // has only reference kernels (ArcFace 19 -> 40 ms).
        bool whole_chain = true;
        const auto d = desc(dn::algorithm::convolution_direct);
        std::unordered_map<int, dn::memory> args;
        auto pd = with_chain(o, o.nout, args, [&](const dn::primitive_attr &a) {
            if (wino && whole_chain) try {
                    return dn::convolution_forward::primitive_desc(desc(dn::algorithm::convolution_winograd), a, eng);
                } catch (const dn::error &) {
                    // post-ops or padding the Winograd kernels refuse: direct, fused as before
                }
            whole_chain = false;
            return dn::convolution_forward::primitive_desc(d, a, eng);
        });
        winograd += std::string(pd.impl_info_str()).find("wino") != std::string::npos;
        weighted(id, val_of[src], pd, md_t(wd, f32, g == 1 ? user : (keras ? tag::gohwi : tag::goihw)), std::move(args));
        break;
    }
    case Kind::IP: {
        const auto &ishape = ops[o.in[0]].shape;
        const int k = static_cast<int>(total(ishape) / ishape[0]);
        dims_t wd = ishape.size() == 4 ? dims_t{o.nout, ishape[1], ishape[2], ishape[3]} : dims_t{o.nout, k};
        if (sparse_rows(id, o.in[0], ishape, wd, ishape.size() == 4 ? tag::abcd : tag::ab)) break;
        const bool bias = o.bias || o.fold_scale;
        dn::inner_product_forward::desc d(fwd, md_t(to_dims(ishape), f32, tag::any), md_t(wd, f32, tag::any),
                                          bias ? md_t({o.nout}, f32, tag::a) : md_t(), md_t(to_dims(o.shape), f32, tag::any));
        std::unordered_map<int, dn::memory> args;
        auto pd = with_chain(o, o.nout, args, [&](const dn::primitive_attr &a) { return dn::inner_product_forward::primitive_desc(d, a, eng); });
        weighted(id, v, pd, md_t(wd, f32, ishape.size() == 4 ? tag::abcd : tag::ab), std::move(args));
        break;
    }
    case Kind::Act: eltwise(id, v, o.acts); break;
    case Kind::PRelu: {
        std::vector<int> ws(o.shape.size(), 1);
        ws[1] = o.shape[1];
        dn::memory w = constant(o.mul, plain(ws));
        auto pd = own_or_plain(v, [&](const md_t &md) { return dn::prelu_forward::primitive_desc({fwd, md, plain(ws)}, attr(), eng); });
        int dst = value(o.shape, pd.dst_desc());
        step(pd, {{DNNL_ARG_SRC, vals[v].mem}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, vals[dst].mem}}, {v, dst});
        val_of[id] = dst;
        break;
    }
    case Kind::Softmax: {
        auto pd = own_or_plain(v, [&](const md_t &md) { return dn::softmax_forward::primitive_desc({fwd, md, 1}, attr(), eng); });
        source_to_new(id, v, pd);
        break;
    }
    case Kind::Scale:
    case Kind::Mul: {
        std::vector<int> ws(o.shape.size(), 1);
        ws[1] = o.shape[1];
        dn::memory w;
        int other = -1;
        if (o.kind == Kind::Mul) {
            other = as_plain(val_of[o.in[1]]);
            other = vals[other].shape == ws ? other : view(other, ws, plain(ws));
            w = vals[other].mem;
        } else {
            w = constant(o.mul, plain(ws));
        }
        dn::post_ops post;
        if (!o.add.empty()) post.append_binary(dn::algorithm::binary_add, plain(ws));
        auto pd = own_or_plain(v, [&](const md_t &md) {
            return dn::binary::primitive_desc({dn::algorithm::binary_mul, md, plain(ws), md}, attr(post), eng);
        });
        int dst = value(o.shape, pd.dst_desc());
        std::unordered_map<int, dn::memory> args{{DNNL_ARG_SRC_0, vals[v].mem}, {DNNL_ARG_SRC_1, w}, {DNNL_ARG_DST, vals[dst].mem}};
        if (!o.add.empty()) args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = constant(o.add, plain(ws));
        if (other >= 0) step(pd, std::move(args), {v, other, dst});
        else step(pd, std::move(args), {v, dst});
        val_of[id] = dst;
        break;
    }
    case Kind::Pool: {
        dn::pooling_forward::desc d(fwd, o.alg, vals[v].md, md_t(to_dims(o.shape), f32, tag::any), {o.sh, o.sw}, {o.kh, o.kw},
                                    {o.pt, o.pl}, {o.pb, o.pr});
        dn::pooling_forward::primitive_desc pd(d, attr(), eng);
        source_to_new(id, v, pd);
        break;
    }
    case Kind::Resize: {
        auto pd = own_or_plain(v, [&](const md_t &md) {
            return dn::resampling_forward::primitive_desc(
                {fwd, dn::algorithm::resampling_nearest, {float(o.kh), float(o.kw)}, md, md_t(to_dims(o.shape), f32, tag::any)},
                attr(), eng);
        });
        source_to_new(id, v, pd);
        break;
    }
    case Kind::LRN: {
        auto pd = own_or_plain(v, [&](const md_t &md) {
            return dn::lrn_forward::primitive_desc({fwd, dn::algorithm::lrn_across_channels, md, o.size, o.alpha, o.beta, o.k}, attr(), eng);
        });
        source_to_new(id, v, pd);
        break;
    }
    case Kind::View: {
        int p = as_plain(v);
        val_of[id] = view(p, o.shape, plain(o.shape));
        break;
    }
    case Kind::Permute: {
        // A reorder into strides that make the input's axes land in the
        // output's order; the result read plainly is the permuted tensor.
        const auto &ishape = vals[v].shape;
        dims_t strides(ishape.size());
        dn::memory::dim stride = 1;
        for (size_t i = o.order.size(); i-- > 0;) {
            strides[o.order[i]] = stride;
            stride *= o.shape[i];
        }
        int p = as(v, md_t(to_dims(ishape), f32, strides));
        val_of[id] = view(p, o.shape, plain(o.shape));
        break;
    }
    case Kind::Concat: {
        std::vector<int> ins;
        for (int i : o.in) ins.push_back(val_of[i]);
        dn::concat::primitive_desc pd;
        auto make = [&] {
            std::vector<md_t> mds;
            for (int i : ins) mds.push_back(vals[i].md);
            return dn::concat::primitive_desc(1, mds, eng, attr());
        };
        try {
            pd = make();
        } catch (const dn::error &) {
            for (int &i : ins) i = as_plain(i);
            pd = make();
        }
        sources_to_new(id, ins, pd);
        break;
    }
    case Kind::Elt: {
        std::vector<int> ins{v};
        const md_t first = vals[v].md;
        for (size_t i = 1; i < o.in.size(); ++i) ins.push_back(as(val_of[o.in[i]], first));
        if (o.alg == dn::algorithm::binary_add && (ins.size() > 2 || !o.coeff.empty())) {
            std::vector<float> scales = o.coeff.empty() ? std::vector<float>(ins.size(), 1.f) : o.coeff;
            std::vector<md_t> mds(ins.size(), vals[v].md);
            dn::sum::primitive_desc pd(vals[v].md, scales, mds, eng, attr());
            sources_to_new(id, ins, pd);
            break;
        }
        const md_t md = first;
        std::unordered_map<int, dn::memory> args;
        dn::binary::desc d(o.alg, md, md, md);
        auto pd = ins.size() == 2
                      ? with_chain(o, o.shape[1], args, [&](const dn::primitive_attr &a) { return dn::binary::primitive_desc(d, a, eng); })
                      : dn::binary::primitive_desc(d, attr(), eng);
        int dst = value(o.shape, md);
        args[DNNL_ARG_SRC_0] = vals[ins[0]].mem;
        args[DNNL_ARG_SRC_1] = vals[ins[1]].mem;
        args[DNNL_ARG_DST] = vals[dst].mem;
        step(pd, args, {ins[0], ins[1], dst});
        // More inputs: folded in one by one, in place (OpenCV's order).
        for (size_t i = 2; i < ins.size(); ++i)
            step(pd, {{DNNL_ARG_SRC_0, vals[dst].mem}, {DNNL_ARG_SRC_1, vals[ins[i]].mem}, {DNNL_ARG_DST, vals[dst].mem}}, {dst, ins[i]});
        produce(o, id, dst);
        break;
    }
    case Kind::Pad: {
        if (o.folded_pad) break;  // its convolutions read the unpadded input
        int src = as_plain(v), dst = value(o.shape, plain(o.shape));
        const auto is = ops[o.in[0]].shape;
        const Op op = o;
        custom([this, src, dst, is, op] {
            const float *s = static_cast<const float *>(vals[src].mem.get_data_handle());
            float *d = static_cast<float *>(vals[dst].mem.get_data_handle());
            const int oh = op.shape[2], ow = op.shape[3];
            std::fill(d, d + total(op.shape), op.value);
            for (int plane = 0; plane < is[0] * is[1]; ++plane)
                for (int y = 0; y < is[2]; ++y)
                    std::copy_n(s + (static_cast<size_t>(plane) * is[2] + y) * is[3], is[3],
                                d + (static_cast<size_t>(plane) * oh + y + op.pt) * ow + op.pl);
        }, {src, dst});
        val_of[id] = dst;
        break;
    }
    case Kind::Norm: {
        int src = as_plain(v), dst = value(o.shape, plain(o.shape));
        const Op op = o;
        custom([this, src, dst, op] {
            const float *s = static_cast<const float *>(vals[src].mem.get_data_handle());
            float *d = static_cast<float *>(vals[dst].mem.get_data_handle());
            const size_t n = op.shape[0], c = op.shape[1], plane = total(op.shape) / (n * c);
            auto powered = [&](float x) { return op.p == 2 ? static_cast<double>(x) * x : std::pow(std::fabs(static_cast<double>(x)), op.p); };
            for (size_t i = 0; i < n; ++i) {
                const float *x = s + i * c * plane;
                float *y = d + i * c * plane;
                if (op.across) {
                    double sum = 0;
                    for (size_t j = 0; j < c * plane; ++j) sum += powered(x[j]);
                    const float inv = static_cast<float>(1.0 / std::pow(sum + op.eps, 1.0 / op.p));
                    for (size_t j = 0; j < c * plane; ++j) y[j] = x[j] * inv;
                    continue;
                }
                for (size_t q = 0; q < plane; ++q) {
                    double sum = 0;
                    for (size_t ch = 0; ch < c; ++ch) sum += powered(x[ch * plane + q]);
                    const float inv = static_cast<float>(std::pow(sum + op.eps, -1.0 / op.p));
                    for (size_t ch = 0; ch < c; ++ch) y[ch * plane + q] = x[ch * plane + q] * inv;
                }
            }
        }, {src, dst});
        val_of[id] = dst;
        break;
    }
    }
}

void Net::Impl::eltwise(int id, int v, const std::vector<Act> &acts) {
    if (acts.empty()) {
        val_of[id] = v;
        return;
    }
    int dst = -1;
    for (const Act &a : acts) {
        const int src = dst < 0 ? v : dst;  // later ones in place
        dn::eltwise_forward::primitive_desc pd({dn::prop_kind::forward_inference, a.alg, vals[src].md, a.alpha, a.beta}, attr(), eng);
        if (dst < 0) dst = value(ops[id].shape, pd.dst_desc());
        step(pd, {{DNNL_ARG_SRC, vals[src].mem}, {DNNL_ARG_DST, vals[dst].mem}}, {src, dst});
    }
    val_of[id] = dst;
}

// Buffers by liveness: each takes a block no live buffer holds, the
// smallest that fits, else the largest free one grown to fit.
void Net::Impl::allocate() {
    std::vector<int> order;
    for (size_t b = 1; b < bufs.size(); ++b)
        if (bufs[b].last >= 0) order.push_back(static_cast<int>(b));
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return bufs[a].first < bufs[b].first; });
    std::vector<size_t> size;
    std::vector<int> holder;  // buffer holding each block, -1 when free
    std::vector<int> block_of(bufs.size(), -1);
    for (int b : order) {
        for (size_t k = 0; k < holder.size(); ++k)
            if (holder[k] >= 0 && bufs[holder[k]].last < bufs[b].first) holder[k] = -1;
        int best = -1;
        for (size_t k = 0; k < holder.size(); ++k) {
            if (holder[k] >= 0) continue;
            bool fits = size[k] >= bufs[b].bytes;
            if (best < 0) best = static_cast<int>(k);
            else if (fits && (size[best] < bufs[b].bytes || size[k] < size[best])) best = static_cast<int>(k);
            else if (!fits && size[best] < bufs[b].bytes && size[k] > size[best]) best = static_cast<int>(k);
        }
        if (best < 0) {
            size.push_back(0);
            holder.push_back(-1);
            best = static_cast<int>(size.size()) - 1;
        }
        size[best] = std::max(size[best], bufs[b].bytes);
        holder[best] = b;
        block_of[b] = best;
    }
    auto alloc = [&](size_t bytes) {
        void *p = std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64);
        if (!p) throw std::bad_alloc();
        blocks.push_back(p);
        return p;
    };
    std::vector<void *> base;
    for (size_t s : size) base.push_back(alloc(s));
    activation_bytes = std::accumulate(size.begin(), size.end(), size_t(0));
    scratchpad = scratch ? alloc(scratch) : nullptr;
    for (auto &[mem, buf] : bindings) {
        if (buf < 0) mem.set_data_handle(scratchpad);
        else if (block_of[buf] >= 0) mem.set_data_handle(base[block_of[buf]]);
    }
    block_sizes = std::move(size);
    this->block_of = std::move(block_of);
}

bool Net::borrow_activations(const Net &lender) {
    Impl &a = *impl;
    const Impl &b = *lender.impl;
    if (a.block_sizes.size() != b.block_sizes.size() || b.blocks.size() < b.block_sizes.size() || a.scratch > b.scratch)
        return false;
    for (size_t k = 0; k < a.block_sizes.size(); ++k)
        if (a.block_sizes[k] > b.block_sizes[k]) return false;
    for (auto &[mem, buf] : a.bindings) {
        if (buf < 0) mem.set_data_handle(b.scratchpad);
        else if (a.block_of[buf] >= 0) mem.set_data_handle(b.blocks[size_t(a.block_of[buf])]);
    }
    // Never touched yet (the first pass does that), so freeing them costs nothing.
    for (void *p : a.blocks) std::free(p);
    a.blocks.clear();
    a.scratchpad = nullptr;
    return true;
}

std::unique_ptr<Net> Net::plan(const std::vector<Layer> &layers, const std::vector<int> &input_shape, const std::vector<int> &outputs,
                               std::vector<std::vector<int>> &shapes, std::string &why_not) {
    auto net = std::unique_ptr<Net>(new Net());
    net->impl = std::make_unique<Impl>();
    Impl &m = *net->impl;
    m.layers = &layers;
    m.threads = 1;
    try {
        with_threads(m.threads, [&] {
            if (input_shape.size() != 4 || input_shape[0] != 1) refuse("an input that is not (1, C, H, W)");
            m.ops.resize(layers.size());
            m.ops[0].shape = input_shape;
            for (size_t id = 1; id < layers.size(); ++id) {
            m.ops[id] = parse(layers[id], m.ops);
            const auto &cl = layers[id].channels_last;
            if (!cl.empty() && (m.ops[id].kind != Kind::Conv || cl != std::vector<int>{0}))
                refuse("layer '" + layers[id].name + "': a Keras kernel outside a convolution's weights");
        }
            double macs = 0;
            for (const Op &o : m.ops) {
                double out = 1;
                for (int d : o.shape) out *= d;
                if (o.kind == Kind::Conv) macs += out * (m.ops[o.in[0]].shape[1] / o.group) * o.kh * o.kw;
                if (o.kind == Kind::IP) macs += out * (total(m.ops[o.in[0]].shape) / m.ops[o.in[0]].shape[0]);
            }
            m.macs = macs;
            m.threads = threads_for_net(macs);
            omp_set_num_threads(m.threads);
            shapes.clear();
            for (const Op &o : m.ops) shapes.push_back(o.shape);

            // Which layers the outputs need, and who reads each.
            const size_t n = layers.size();
            std::vector<char> live(n, 0), is_out(n, 0);
            auto &readers = m.readers;
            readers.assign(n, {});
            for (int o : outputs) live[o] = is_out[o] = 1;
            for (size_t id = n; id-- > 1;)
                if (live[id])
                    for (int i : m.ops[id].in) live[i] = 1;
            for (size_t id = 1; id < n; ++id)
                if (live[id])
                    for (int i : m.ops[id].in) readers[i].push_back(static_cast<int>(id));
            // The one reader of a layer nobody else sees.
            auto sole = [&](int id) {
                if (is_out[id] || readers[id].size() != 1) return 0;
                int r = readers[id][0];
                return m.ops[r].in.size() == 1 ? r : 0;
            };
            for (size_t id = 1; id < n; ++id) {
                Op &o = m.ops[id];
                if (!live[id] || o.fused) continue;
                if (o.kind == Kind::Pad && o.value == 0 && !is_out[id] && !readers[id].empty() &&
                    std::all_of(readers[id].begin(), readers[id].end(), [&](int r) { return m.ops[r].kind == Kind::Conv; }))
                    o.folded_pad = true;
                int tail = static_cast<int>(id);
                if (o.kind == Kind::Conv || o.kind == Kind::IP) {
                    int r = sole(tail);
                    if (r && m.ops[r].kind == Kind::Scale) {
                        o.fold_scale = r;
                        m.ops[r].fused = static_cast<int>(id);
                        tail = r;
                    }
                }
                if (o.kind == Kind::Conv || o.kind == Kind::IP || (o.kind == Kind::Elt && o.in.size() == 2 && o.coeff.empty())) {
                    for (int r = sole(tail); r && (m.ops[r].kind == Kind::Act || m.ops[r].kind == Kind::PRelu); r = sole(tail)) {
                        o.chain.push_back(r);
                        m.ops[r].fused = static_cast<int>(id);
                        tail = r;
                    }
                }
            }

            // The input: the caller's NHWC samples, used in place.
            m.bufs.push_back({0});
            const md_t in_md(to_dims(input_shape), f32, tag::nhwc);
            m.input = dn::memory(in_md, m.eng, DNNL_MEMORY_NONE);
            m.vals.push_back({input_shape, in_md, m.input, 0, {}});
            m.val_of.assign(n, -1);
            m.val_of[0] = 0;
            for (size_t id = 1; id < n; ++id)
                if (live[id] && !m.ops[id].fused) m.build(static_cast<int>(id));

            size_t offset = 0;
            for (int o : outputs) {
                const auto &s = m.ops[o].shape;
                const md_t md = s.size() == 4 ? md_t(to_dims(s), f32, tag::nhwc) : plain(s);
                dn::memory out(md, m.eng, DNNL_MEMORY_NONE);
                const int v = m.val_of[o];
                dn::reorder::primitive_desc pd(m.eng, m.vals[v].md, m.eng, md, m.attr());
                m.step(pd, {{DNNL_ARG_FROM, m.vals[v].mem}, {DNNL_ARG_TO, out}}, {v});
                m.outs.push_back({out, offset});
                m.out_shapes.push_back(s);
                offset += total(s);
            }
            m.allocate();
        });
    } catch (const Unsupported &e) {
        why_not = e.what();
        return nullptr;
    } catch (const dn::error &e) {
        why_not = std::string("oneDNN: ") + e.what();
        return nullptr;
    } catch (const cv::Exception &e) {
        why_not = std::string("parameters: ") + e.what();
        return nullptr;
    }
    m.layers = nullptr;
    return net;
}

// oneDNN 2.6 reorders into its Winograd weights only from oihw (or hwio):
// a Keras kernel (ohwi) goes over through a plain oihw copy.
static void reorder_weights(dn::memory from, dn::memory to, const dn::engine &eng, dn::stream &strm) {
    const md_t &in = from.get_desc();
    if (to.get_desc().data.format_kind == dnnl_format_kind_wino && !(in == md_t(in.dims(), f32, tag::oihw))) {
        dn::memory plain(md_t(in.dims(), f32, tag::oihw), eng);
        dn::reorder(from, plain).execute(strm, from, plain);
        dn::reorder(plain, to).execute(strm, plain, to);
        strm.wait();
        return;
    }
    dn::reorder(from, to).execute(strm, from, to);
}

void Net::load(std::vector<Layer> &layers) {
    Impl &m = *impl;
    const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    for (auto &w : m.weights) {
        cv::Mat &b = layers[w.layer].params.blobs[0];
        float *data = b.ptr<float>();
        dn::memory dst(w.want, m.eng);
        const dims_t dims = w.user.dims();
        const size_t rows = static_cast<size_t>(dims[0]), per = b.total() / rows;
        const size_t per_out = w.mul.empty() ? 1 : b.total() / w.mul.size();
        // Large weights go over in slices of whole blocks of the outer axis,
        // and the pages of each slice's source go back to the system once
        // copied: the peak holds such a layer about once instead of twice
        // (VGG-Face's fc6 is 400 MB).
        size_t block = 1;
        const auto &blocking = w.want.data.format_desc.blocking;
        for (int i = 0; w.want.data.format_kind == dnnl_blocked && i < blocking.inner_nblks; ++i)
            if (blocking.inner_idxs[i] == 0) block *= static_cast<size_t>(blocking.inner_blks[i]);
        const size_t slice_rows = block * std::max<size_t>(1, 256 / block);
        const bool sliced = w.want.data.format_kind == dnnl_blocked && b.total() * sizeof(float) >= (1u << 20) &&
                            rows % slice_rows == 0 && rows > slice_rows && b.u && b.u->refcount == 1;
        const size_t slice = sliced ? slice_rows : rows;
        uintptr_t released = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page + page;  // malloc's header stays
        with_threads(m.threads, [&] {
            for (size_t r0 = 0; r0 < rows; r0 += slice) {
                for (size_t e = r0 * per; e < (r0 + slice) * per; ++e)
                    if (!w.mul.empty()) data[e] *= w.mul[e / per_out];
                dims_t sub = dims, offset(dims.size(), 0);
                sub[0] = static_cast<dn::memory::dim>(slice);
                offset[0] = static_cast<dn::memory::dim>(r0);
                dn::memory from(slice == rows ? w.user : w.user.submemory_desc(sub, offset), m.eng, data),
                    to(slice == rows ? w.want : w.want.submemory_desc(sub, offset), m.eng, dst.get_data_handle());
                reorder_weights(from, to, m.eng, m.strm);
                m.strm.wait();
                if (!sliced) continue;
                const uintptr_t done = reinterpret_cast<uintptr_t>(data + (r0 + slice) * per) / page * page;
                if (done > released) {
                    madvise(reinterpret_cast<void *>(released), done - released, MADV_DONTNEED);
                    released = done;
                }
            }
        });
        m.steps[w.step].args[w.arg] = dst;
        m.loaded.push_back(dst);
        b = cv::Mat();
    }
    m.weights.clear();
    for (auto &l : layers) l.params.blobs.clear();
}

std::vector<int> Net::weight_layers() const {
    std::vector<int> ids;
    for (const auto &w : impl->weights) ids.push_back(w.layer);
    return ids;
}

void Net::load_packed(std::vector<Layer> &layers, const std::vector<Packed> &packed) {
    Impl &m = *impl;
    if (packed.size() != m.weights.size())
        throw Stale("the plan holds " + std::to_string(packed.size()) + " weights, the net takes " + std::to_string(m.weights.size()));
    for (size_t i = 0; i < packed.size(); ++i) {
        const auto &w = m.weights[i];
        dnnl_memory_desc_t raw;
        if (packed[i].desc.size() != sizeof raw) throw Stale("weight layouts of another oneDNN");
        std::memcpy(&raw, packed[i].desc.data(), sizeof raw);
        if (!(md_t(raw) == w.want) || packed[i].size != w.want.get_size())
            throw Stale("layer '" + layers[w.layer].name + "': weights laid out for another CPU or oneDNN");
        // oneDNN only reads weights; the mapping is private, so even a write
        // would stay in this process.
        dn::memory dst(w.want, m.eng, const_cast<void *>(packed[i].data));
        m.steps[w.step].args[w.arg] = dst;
        m.loaded.push_back(dst);
    }
    m.weights.clear();
    for (auto &l : layers) l.params.blobs.clear();
}

std::vector<Net::Packed> Net::packed() const {
    std::vector<Packed> out;
    for (const auto &mem : impl->loaded) {
        const md_t md = mem.get_desc();
        out.push_back({std::string(reinterpret_cast<const char *>(&md.data), sizeof md.data), mem.get_data_handle(), md.get_size()});
    }
    return out;
}

void Net::forward(const float *nhwc, float *out) {
    Impl &m = *impl;
    with_threads(m.threads, [&] {
        m.input.set_data_handle(const_cast<float *>(nhwc));
        for (auto &v : m.input_views) v.set_data_handle(const_cast<float *>(nhwc));
        for (auto &[mem, offset] : m.outs) mem.set_data_handle(out + offset);
        for (auto &s : m.steps) {
            if (s.fn) {
                m.strm.wait();
                s.fn();
            } else {
                s.prim.execute(m.strm, s.args);
            }
        }
        m.strm.wait();
    });
}

const std::vector<std::vector<int>> &Net::output_shapes() const { return impl->out_shapes; }

std::string Net::summary() const {
    const Impl &m = *impl;
    size_t fused = 0;
    for (const Op &o : m.ops) fused += o.fused || o.folded_pad;
    return std::to_string(m.ops.size() - 1) + " layers in " + std::to_string(m.steps.size()) + " steps, " + std::to_string(fused) +
           " fused, " + std::to_string(m.winograd) + " Winograd, " + std::to_string(m.sparse) + " sparse, " + std::to_string(m.reorders) + " reorders, " +
           std::to_string(m.activation_bytes >> 10) + " KiB of activations, " +
           std::to_string(m.scratch >> 10) + " KiB scratchpad, " + std::to_string(int(m.macs / 1e6)) + " M multiply-adds, " +
           std::to_string(m.threads) + (m.threads == 1 ? " thread" : " threads");
}

Net::~Net() = default;

void set_threads(int threads) { threads_setting.store(threads); }

}  // namespace fk::engine
