// Builds an fk_graph (graph.cpp) from an ONNX file, so that ONNX models run
// on whatever engine fk_graph_finish picks instead of OpenCV's own ONNX
// importer (fk_net).
//
// Only the layer vocabulary that the Keras loader also emits is used
// (Convolution, Padding, Pooling, InnerProduct, Scale, Power, Eltwise, ...):
// an engine behind fk_graph implements that set once for both loaders. Each
// ONNX node is mapped to layers that compute exactly what the node computes
// (ONNX semantics, NCHW); a node with no exact mapping, or an operand of a
// form that has none (a computed weight, a broadcast other than per channel,
// an axis other than the channel axis), makes the whole translation fail
// with FK_ERR_UNSUPPORTED naming the node, and the caller runs the file
// through fk_net instead. Nothing is approximated.
//
// The file is read through its mapping (onnx_model.hpp); weights that are
// already in the layout a layer wants go to fk_graph_add straight from the
// mapping, which copies them once.
#include "onnx_model.hpp"

#include <cstdio>
#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace fk::onnx {
namespace {

Failure unsupported(const Node &n, const std::string &why) {
    return Failure(FK_ERR_UNSUPPORTED, n.label() + ": " + why);
}

std::string num(double v) {
    char buf[64];
    // Nine significant digits give every float32 back exactly.
    std::snprintf(buf, sizeof(buf), "%.9g", v);
    return buf;
}

// A float tensor's values: a view into the mapping when the file stores them
// as aligned raw little-endian float32, else a decoded copy.
struct Floats {
    Shape dims;
    const float *data = nullptr;
    std::vector<float> owned;
    size_t count = 0;
};

Floats load_floats(std::string_view tensor, const std::string &name) {
    Floats f;
    int dtype = 0;
    std::string_view raw;
    bool has_raw = false;
    std::vector<float> listed;
    std::vector<double> doubles;
    Reader r(tensor);
    while (!r.done()) {
        Field x = r.next();
        switch (x.number) {
        case 1: append_ints(x, f.dims); break;
        case 2: dtype = int(x.value); break;
        case 4: append_floats(x, listed); break;
        case 9: raw = x.bytes; has_raw = true; break;
        case 10:
            if (x.wire == kFixed64) { double d; std::memcpy(&d, &x.value, 8); doubles.push_back(d); }
            else for (size_t i = 0; i + 8 <= x.bytes.size(); i += 8) { double d; std::memcpy(&d, x.bytes.data() + i, 8); doubles.push_back(d); }
            break;
        case 13: throw Failure(FK_ERR_MODEL_LOAD, "tensors stored outside the file (external data) are not supported");
        case 14: if (x.value == 1) throw Failure(FK_ERR_MODEL_LOAD, "tensors stored outside the file (external data) are not supported"); break;
        default: break;
        }
    }
    f.count = size_t(element_count(f.dims));
    if (dtype == kFloat) {
        if (has_raw) {
            if (raw.size() != f.count * 4) throw malformed("tensor '" + name + "' data size does not match its shape");
            if (reinterpret_cast<uintptr_t>(raw.data()) % alignof(float) == 0) f.data = reinterpret_cast<const float *>(raw.data());
            else { f.owned.resize(f.count); std::memcpy(f.owned.data(), raw.data(), raw.size()); }
        } else {
            if (listed.size() != f.count) throw malformed("tensor '" + name + "' data size does not match its shape");
            f.owned = std::move(listed);
        }
    } else if (dtype == kDouble) {
        // Held as float by every layer: the importer narrows it the same way.
        if (has_raw) {
            if (raw.size() != f.count * 8) throw malformed("tensor '" + name + "' data size does not match its shape");
            f.owned.resize(f.count);
            for (size_t i = 0; i < f.count; ++i) { double d; std::memcpy(&d, raw.data() + 8 * i, 8); f.owned[i] = float(d); }
        } else {
            if (doubles.size() != f.count) throw malformed("tensor '" + name + "' data size does not match its shape");
            for (double d : doubles) f.owned.push_back(float(d));
        }
    } else {
        throw Failure(FK_ERR_UNSUPPORTED, "tensor '" + name + "' has element type " + std::to_string(dtype) + ", not float");
    }
    if (!f.data) f.data = f.owned.data();
    return f;
}

// One blob for fk_graph_add: data either borrowed (from the mapping or a
// Floats that outlives the call) or owned.
struct Blob {
    std::vector<float> owned;
    const float *data = nullptr;
    std::vector<int32_t> shape;
    static Blob borrow(const float *p, std::vector<int32_t> s) { Blob b; b.data = p; b.shape = std::move(s); return b; }
    static Blob own(std::vector<float> v, std::vector<int32_t> s) { Blob b; b.owned = std::move(v); b.shape = std::move(s); return b; }
};

class Translator {
public:
    // spatial: the input's height and width may differ from the file's (a
    // fully convolutional net, as OpenCV's importer allows); every shape is
    // then derived from the wanted one.
    Translator(std::string_view data, const Shape &want, fk_graph *graph, bool spatial = false)
        : data_(data), want_(want), graph_(graph), spatial_(spatial) {}

    bool input_nhwc = false;
    std::vector<int32_t> input_nchw;  // the network input, NCHW, batch 1
    std::vector<int32_t> outputs;

    void run() {
        Reader r(data_);
        std::string_view graph;
        bool have_graph = false;
        while (!r.done()) {
            Field f = r.next();
            if (f.number == 7 && f.wire == kBytes) { graph = f.bytes; have_graph = true; }
            else if (f.number == 8 && f.wire == kBytes) {
                // opset_import: the default domain's version decides Softmax's meaning.
                std::string domain;
                int64_t version = 0;
                Reader o(f.bytes);
                while (!o.done()) { Field x = o.next(); if (x.number == 1) domain = std::string(x.bytes); else if (x.number == 2) version = int64_t(x.value); }
                if (domain.empty() || domain == "ai.onnx") opset_ = version;
            }
        }
        if (!have_graph) throw malformed("no graph");

        std::vector<std::string_view> nodes, inputs, outs;
        Reader g(graph);
        while (!g.done()) {
            Field f = g.next();
            switch (f.number) {
            case 1: nodes.push_back(f.bytes); break;
            case 5: { TensorInfo info = peek_tensor(f.bytes); consts_[std::string(info.name)] = f.bytes; break; }
            case 11: inputs.push_back(f.bytes); break;
            case 12: outs.push_back(f.bytes); break;
            case 15: throw Failure(FK_ERR_UNSUPPORTED, "sparse initializers are not supported");
            default: break;
            }
        }
        std::vector<ValueInfo> real;
        for (auto bytes : inputs) {
            ValueInfo vi = parse_value_info(bytes);
            if (!consts_.count(vi.name)) real.push_back(vi);
        }
        if (real.size() != 1) throw Failure(FK_ERR_UNSUPPORTED, "the graph has " + std::to_string(real.size()) + " inputs; one image input expected");
        set_input(real[0]);
        for (auto bytes : nodes) translate(parse_node(bytes));
        for (auto bytes : outs) {
            ValueInfo vi = parse_value_info(bytes);
            auto it = values_.find(vi.name);
            if (it == values_.end() || it->second.layer <= 0)
                throw Failure(FK_ERR_UNSUPPORTED, "output '" + vi.name + "' is not computed by a layer");
            const Shape &s = it->second.shape;
            // fk_graph_forward returns 4-d outputs channels-last; only outputs
            // whose order that cannot change are passed through.
            if (s.size() > 2 && element_count(s) != s[1] && !it->second.channels_last)
                throw Failure(FK_ERR_UNSUPPORTED, "output '" + vi.name + "' of shape " + shape_text(s) + " would come out channels-last");
            outputs.push_back(it->second.layer);
        }
        if (outputs.empty()) throw malformed("the graph has no output");
    }

private:
    struct Value {
        int layer = -1;  // fk_graph layer id
        Shape shape;     // ONNX shape, NCHW, batch 1
        // The tensor is the layer's NCHW output read channels-last, as a
        // detection head's Transpose(0, 2, 3, 1) + Reshape(1, -1, C) gives
        // it: exactly how fk_graph_forward writes a 4-d output. Only
        // elementwise ops and graph outputs may use such a value.
        bool channels_last = false;
    };

    std::string_view data_;
    Shape want_;
    fk_graph *graph_;
    int64_t opset_ = 0;
    std::unordered_map<std::string, std::string_view> consts_;  // name -> TensorProto bytes
    std::unordered_map<std::string, Value> values_;
    std::unordered_set<std::string> names_{"input"};
    std::string input_name_;
    bool spatial_ = false;
    bool input_read_ = false;  // some node read the file's input as it is

    void set_input(const ValueInfo &in) {
        if (in.elem_type != 0 && in.elem_type != kFloat) throw Failure(FK_ERR_UNSUPPORTED, "the input is not float32");
        Shape dims = in.has_shape ? in.dims : Shape(want_.size(), -1);
        if (!want_.empty()) {
            if (in.has_shape && dims.size() != want_.size())
                throw Failure(FK_ERR_MODEL_LOAD, "the graph takes a " + shape_text(dims) + " input, not " + shape_text(want_));
            for (size_t i = 0; i < dims.size(); ++i) {
                if (want_[i] >= 0 && dims[i] >= 0 && want_[i] != dims[i] && !(spatial_ && i >= 2))
                    throw Failure(FK_ERR_MODEL_LOAD, "the graph takes a " + shape_text(dims) + " input, not " + shape_text(want_));
                if (want_[i] >= 0) dims[i] = want_[i];
            }
        }
        if (!dims.empty() && dims[0] < 0) dims[0] = 1;  // one sample per pass
        if (dims.size() != 4) throw Failure(FK_ERR_UNSUPPORTED, "the input has rank " + std::to_string(dims.size()) + "; an image input has 4");
        for (int64_t d : dims) if (d <= 0) throw Failure(FK_ERR_MODEL_LOAD, "input dimension not fixed: " + shape_text(dims));
        if (dims[0] != 1) throw Failure(FK_ERR_UNSUPPORTED, "a graph runs one sample per pass; the input has batch " + std::to_string(dims[0]));
        input_name_ = in.name;
        // NCHW unless the file's first use of it is the NHWC -> NCHW
        // transpose of a channels-last export (see transpose()).
        input_nchw = {1, int32_t(dims[1]), int32_t(dims[2]), int32_t(dims[3])};
        values_[in.name] = Value{0, dims};
    }

    // ------------------------------------------------------------ operands

    bool is_const(const std::string &name) const { return consts_.count(name) > 0; }

    Const small(const Node &n, size_t i) const {
        auto it = consts_.find(n.in.at(i));
        if (it == consts_.end()) throw unsupported(n, "input " + std::to_string(i) + " ('" + n.in[i] + "') is computed, not a constant");
        return decode_tensor(it->second);
    }

    Floats weights(const Node &n, size_t i) const {
        auto it = consts_.find(n.in.at(i));
        if (it == consts_.end()) throw unsupported(n, "weight '" + n.in[i] + "' is computed, not a constant");
        return load_floats(it->second, n.in[i]);
    }

    const Value &value(const Node &n, size_t i, bool channels_last_ok = false) {
        if (i >= n.in.size() || n.in[i].empty()) throw malformed(n.label() + " lacks input " + std::to_string(i));
        if (n.in[i] == input_name_) {
            // Once transposed, the channels-last tensor itself has no layer.
            if (input_nhwc) throw unsupported(n, "reads the NHWC input other than through its transpose to NCHW");
            input_read_ = true;
        }
        auto it = values_.find(n.in[i]);
        if (it == values_.end()) {
            if (is_const(n.in[i])) throw unsupported(n, "input '" + n.in[i] + "' is a constant where a computed tensor is expected");
            throw malformed(n.label() + " reads '" + n.in[i] + "' before it is computed");
        }
        if (it->second.channels_last && !channels_last_ok)
            throw unsupported(n, "reads a channels-last view other than elementwise");
        return it->second;
    }

    // ------------------------------------------------------------ emission

    std::string unique(const std::string &base) {
        std::string name = base.empty() ? "layer" : base;
        for (int k = 1; names_.count(name); ++k) name = base + "#" + std::to_string(k);
        names_.insert(name);
        return name;
    }

    int add(const std::string &name, const char *type, const std::string &params, const std::vector<int> &inputs,
            const std::vector<Blob> &blobs, const Shape &shape) {
        std::vector<fk_blob> raw;
        for (const Blob &b : blobs)
            raw.push_back(fk_blob{b.owned.empty() ? b.data : b.owned.data(), b.shape.data(), int32_t(b.shape.size()), 0});
        std::vector<int32_t> ins(inputs.begin(), inputs.end()), expected(shape.begin(), shape.end());
        int32_t id = -1;
        fk_error err{};
        fk_status st = fk_graph_add(graph_, unique(name).c_str(), type, params.c_str(), ins.data(), int32_t(ins.size()),
                                    raw.data(), int32_t(raw.size()), expected.data(), int32_t(expected.size()), &id, &err);
        if (st != FK_OK) throw Failure(st, err.message);
        return id;
    }

    void define(const Node &n, int layer, Shape shape) {
        if (n.out.empty() || n.out[0].empty()) throw malformed(n.label() + " has no output");
        values_[n.out[0]] = Value{layer, std::move(shape)};
    }

    static std::vector<int32_t> dims32(const Shape &s) { return std::vector<int32_t>(s.begin(), s.end()); }

    // ------------------------------------------------------------ nodes

    void translate(const Node &raw) {
        Node n = raw;
        while (!n.in.empty() && n.in.back().empty()) n.in.pop_back();
        if (!n.domain.empty() && n.domain != "ai.onnx") throw unsupported(n, "operator of domain '" + n.domain + "'");
        const std::string &op = n.op;
        if (op == "Constant") return constant(n);
        // A node of constants only is a computation the rewriter leaves to
        // run time; there is no layer for it.
        bool any_value = false;
        for (auto &s : n.in) if (!s.empty() && !is_const(s)) any_value = true;
        if (!any_value) throw unsupported(n, "computes on constants only");
        for (size_t i = 1; i < n.out.size(); ++i)
            if (!n.out[i].empty() && op != "Dropout" && op != "BatchNormalization") throw unsupported(n, "more than one output");

        if (op == "Transpose") return transpose(n);
        if (op == "Conv") return conv(n);
        if (op == "MaxPool" || op == "AveragePool") return pool(n);
        if (op == "GlobalAveragePool" || op == "GlobalMaxPool") return global_pool(n);
        if (op == "Relu") return unary(n, "ReLU", "");
        if (op == "Sigmoid") return unary(n, "Sigmoid", "");
        if (op == "Tanh") return unary(n, "TanH", "");
        if (op == "Sqrt") return unary(n, "Power", "power=0.5;scale=1;shift=0");
        if (op == "Clip") return clip(n);
        if (op == "PRelu") return prelu(n);
        if (op == "BatchNormalization") return batch_norm(n);
        if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Max") return binary(n);
        if (op == "Pow") return pow(n);
        if (op == "Concat") return concat(n);
        if (op == "Flatten") return flatten(n);
        if (op == "Reshape") return reshape(n);
        if (op == "Gemm" || op == "MatMul") return dense(n);
        if (op == "Pad") return pad(n);
        if (op == "Resize" || op == "Upsample") return resize(n);
        if (op == "Softmax") return softmax(n);
        if (op == "LRN") return lrn(n);
        if (op == "Normalize") return normalize(n);
        if (op == "Dropout" || op == "Identity") return identity(n);
        throw unsupported(n, "no layer for this operator");
    }

    void constant(const Node &n) {
        const Attr *a = n.attr("value");
        if (!a || n.out.empty()) throw unsupported(n, "only Constant nodes holding a tensor are supported");
        consts_[n.out[0]] = a->t;
    }

    void transpose(const Node &n) {
        Shape perm = n.getints("perm");
        // A channels-last export starts with x.permute(0, 3, 1, 2); fk_graph
        // takes NHWC samples and feeds its network NCHW, which is the same.
        // Only when nothing read the input as it is before.
        if (n.in[0] == input_name_ && !input_nhwc && !input_read_ && perm == Shape{0, 3, 1, 2}) {
            const Shape s = values_.at(input_name_).shape;
            input_nhwc = true;
            input_nchw = {1, int32_t(s[3]), int32_t(s[1]), int32_t(s[2])};
            values_.erase(input_name_);
            values_[n.out.at(0)] = Value{0, {1, s[3], s[1], s[2]}};
            return;
        }
        if (perm == Shape{0, 2, 3, 1}) {
            const Value x = image(n);
            values_[n.out.at(0)] = Value{x.layer, x.shape, true};
            return;
        }
        throw unsupported(n, "a transpose other than the input's NHWC -> NCHW or a head's NCHW -> NHWC");
    }

    const Value &image(const Node &n, size_t i = 0) {
        const Value &v = value(n, i);
        if (v.shape.size() != 4) throw unsupported(n, "input of shape " + shape_text(v.shape) + "; an NCHW image expected");
        return v;
    }

    // Explicit pads (t, l, b, r) of a 2-d window op, from pads or auto_pad.
    std::array<int64_t, 4> window_pads(const Node &n, const Shape &x, const Shape &kernel, const Shape &strides, const Shape &dil) {
        std::string mode = n.gets("auto_pad");
        Shape pads = n.getints("pads");
        if (mode.empty() || mode == "NOTSET") {
            if (pads.empty()) pads.assign(4, 0);
            if (pads.size() != 4) throw unsupported(n, "pads of length " + std::to_string(pads.size()));
            for (int64_t p : pads) if (p < 0) throw unsupported(n, "negative pads");
            return {pads[0], pads[1], pads[2], pads[3]};
        }
        if (mode == "VALID") return {0, 0, 0, 0};
        if (mode != "SAME_UPPER" && mode != "SAME_LOWER") throw unsupported(n, "auto_pad " + mode);
        std::array<int64_t, 4> out{};
        for (int a = 0; a < 2; ++a) {
            int64_t in = x[size_t(2 + a)], s = strides[size_t(a)], ext = dil[size_t(a)] * (kernel[size_t(a)] - 1) + 1;
            int64_t o = (in + s - 1) / s, total = std::max<int64_t>((o - 1) * s + ext - in, 0);
            int64_t small = total / 2, big = total - small;
            out[size_t(a)] = mode == "SAME_UPPER" ? small : big;
            out[size_t(a + 2)] = mode == "SAME_UPPER" ? big : small;
        }
        return out;
    }

    static Shape pair(const Node &n, const char *key, int64_t fallback) {
        Shape v = n.getints(key);
        if (v.empty()) v.assign(2, fallback);
        if (v.size() != 2) throw unsupported(n, std::string(key) + " of length " + std::to_string(v.size()) + "; a 2-d window expected");
        return v;
    }

    void conv(const Node &n) {
        const Value x = image(n);
        Floats w = weights(n, 1);
        if (w.dims.size() != 4) throw unsupported(n, "a kernel of shape " + shape_text(w.dims) + "; 2-d convolutions only");
        int64_t group = n.geti("group", 1), out_c = w.dims[0];
        if (group <= 0 || w.dims[1] * group != x.shape[1] || out_c % group)
            throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": kernel " + shape_text(w.dims) + " does not fit input " + shape_text(x.shape) + " in " + std::to_string(group) + " groups");
        Shape kernel = n.getints("kernel_shape");
        if (kernel.empty()) kernel = {w.dims[2], w.dims[3]};
        if (kernel != Shape{w.dims[2], w.dims[3]}) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": kernel_shape differs from the kernel");
        Shape strides = pair(n, "strides", 1), dil = pair(n, "dilations", 1);
        for (int a = 0; a < 2; ++a) if (strides[size_t(a)] <= 0 || dil[size_t(a)] <= 0) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": non-positive stride or dilation");
        auto p = window_pads(n, x.shape, kernel, strides, dil);
        std::vector<Blob> blobs{Blob::borrow(w.data, dims32(w.dims))};
        Floats b;
        if (n.in.size() > 2) {
            b = weights(n, 2);
            if (b.count != size_t(out_c)) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": bias of shape " + shape_text(b.dims) + " for " + std::to_string(out_c) + " outputs");
            blobs.push_back(Blob::borrow(b.data, {int32_t(out_c)}));
        }
        int source = x.layer;
        Shape in = x.shape;
        std::string pads = "pad_h=" + std::to_string(p[0]) + ";pad_w=" + std::to_string(p[1]);
        if (p[0] != p[2] || p[1] != p[3]) {
            // OpenCV's convolution takes symmetric padding only: the
            // asymmetric form is an explicit zero padding first.
            Shape padded = {in[0], in[1], in[2] + p[0] + p[2], in[3] + p[1] + p[3]};
            source = add(n.out[0] + "/pad", "Padding",
                         "paddings=0,0,0,0," + std::to_string(p[0]) + "," + std::to_string(p[2]) + "," + std::to_string(p[1]) + "," + std::to_string(p[3]) + ";value=0",
                         {source}, {}, padded);
            in = padded;
            pads = "pad_h=0;pad_w=0";
        }
        Shape out = {1, out_c};
        for (int a = 0; a < 2; ++a) {
            int64_t padded = in[size_t(2 + a)] + (source == x.layer ? p[size_t(a)] + p[size_t(a + 2)] : 0);
            int64_t ext = dil[size_t(a)] * (kernel[size_t(a)] - 1) + 1;
            if (padded < ext) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": the kernel does not fit the input " + shape_text(x.shape));
            out.push_back((padded - ext) / strides[size_t(a)] + 1);
        }
        std::string params = "kernel_h=" + std::to_string(kernel[0]) + ";kernel_w=" + std::to_string(kernel[1]) +
                             ";stride_h=" + std::to_string(strides[0]) + ";stride_w=" + std::to_string(strides[1]) + ";" + pads +
                             ";dilation_h=" + std::to_string(dil[0]) + ";dilation_w=" + std::to_string(dil[1]) +
                             ";num_output=" + std::to_string(out_c) + ";bias_term=" + (blobs.size() > 1 ? "1" : "0") +
                             ";group=" + std::to_string(group);
        define(n, add(n.out[0], "Convolution", params, {source}, blobs, out), out);
    }

    void pool(const Node &n) {
        const Value x = image(n);
        bool average = n.op == "AveragePool";
        Shape kernel = n.getints("kernel_shape");
        if (kernel.size() != 2) throw unsupported(n, "a " + std::to_string(kernel.size()) + "-d window; 2-d pooling only");
        Shape strides = pair(n, "strides", 1), dil = pair(n, "dilations", 1);
        if (dil != Shape{1, 1}) throw unsupported(n, "dilated pooling");
        for (int a = 0; a < 2; ++a) if (strides[size_t(a)] <= 0 || kernel[size_t(a)] <= 0) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": non-positive window or stride");
        auto p = window_pads(n, x.shape, kernel, strides, dil);
        bool ceil_mode = n.geti("ceil_mode", 0) != 0;
        bool include_pad = n.geti("count_include_pad", 0) != 0;
        bool padded = p[0] || p[1] || p[2] || p[3];
        // A window past the padding (ceil mode) counts its cells differently
        // in OpenCV and ONNX when padding is counted: not expressed.
        if (average && include_pad && ceil_mode && padded) throw unsupported(n, "ceil_mode with count_include_pad");
        Shape out = {1, x.shape[1]};
        for (int a = 0; a < 2; ++a) {
            int64_t span = x.shape[size_t(2 + a)] + p[size_t(a)] + p[size_t(a + 2)] - kernel[size_t(a)], s = strides[size_t(a)];
            if (span < 0) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": the window does not fit the input " + shape_text(x.shape));
            int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
            // ONNX drops a last window that would start inside the end padding.
            if (ceil_mode && (o - 1) * s >= x.shape[size_t(2 + a)] + p[size_t(a)]) --o;
            out.push_back(o);
        }
        std::string params = std::string("pool=") + (average ? "AVE" : "MAX") + ";kernel_h=" + std::to_string(kernel[0]) +
                             ";kernel_w=" + std::to_string(kernel[1]) + ";stride_h=" + std::to_string(strides[0]) +
                             ";stride_w=" + std::to_string(strides[1]) + ";pad_t=" + std::to_string(p[0]) +
                             ";pad_b=" + std::to_string(p[2]) + ";pad_l=" + std::to_string(p[1]) + ";pad_r=" + std::to_string(p[3]) +
                             ";ceil_mode=" + (ceil_mode ? "1" : "0") + ";ave_pool_padded_area=" + (include_pad ? "1" : "0");
        define(n, add(n.out[0], "Pooling", params, {x.layer}, {}, out), out);
    }

    void global_pool(const Node &n) {
        const Value x = image(n);
        Shape out = {1, x.shape[1], 1, 1};
        define(n, add(n.out[0], "Pooling", std::string("pool=") + (n.op == "GlobalAveragePool" ? "AVE" : "MAX") + ";global_pooling=1",
                      {x.layer}, {}, out), out);
    }

    void unary(const Node &n, const char *type, const std::string &params) {
        const Value x = value(n, 0, true);
        define(n, add(n.out[0], type, params, {x.layer}, {}, x.shape), x.shape);
        values_[n.out[0]].channels_last = x.channels_last;
    }

    void identity(const Node &n) {
        if (n.op == "Dropout" && n.in.size() > 2) {
            Const training = small(n, 2);
            if (!training.v.empty() && training.v[0] != 0) throw unsupported(n, "dropout in training mode");
        }
        const Value x = value(n, 0);
        define(n, x.layer, x.shape);
    }

    void clip(const Node &n) {
        const Value x = value(n, 0);
        double lo = -std::numeric_limits<float>::max(), hi = std::numeric_limits<float>::max();
        if (const Attr *a = n.attr("min")) lo = a->f;
        if (const Attr *a = n.attr("max")) hi = a->f;
        if (n.in.size() > 1 && !n.in[1].empty()) { Const c = small(n, 1); if (c.v.size() != 1) throw unsupported(n, "a bound that is not a scalar"); lo = c.v[0]; }
        if (n.in.size() > 2 && !n.in[2].empty()) { Const c = small(n, 2); if (c.v.size() != 1) throw unsupported(n, "a bound that is not a scalar"); hi = c.v[0]; }
        define(n, add(n.out[0], "ReLU6", "min_value=" + num(lo) + ";max_value=" + num(hi), {x.layer}, {}, x.shape), x.shape);
    }

    // Whether a constant of shape c broadcasts onto x along the channel
    // axis only (after right alignment), as a per-channel operand does.
    static bool per_channel(const Shape &c, const Shape &x) {
        if (c.size() > x.size() || x.size() < 2) return false;
        size_t off = x.size() - c.size();
        for (size_t i = 0; i < c.size(); ++i) {
            size_t axis = off + i;
            if (axis == 1) { if (c[i] != x[1]) return false; }
            else if (c[i] != 1) return false;
        }
        return off <= 1;
    }

    void prelu(const Node &n) {
        const Value x = value(n, 0);
        Floats slope = weights(n, 1);
        if (x.shape.size() < 2) throw unsupported(n, "input of shape " + shape_text(x.shape));
        int64_t c = x.shape[1];
        std::vector<float> s;
        if (slope.count == 1) s.assign(size_t(c), slope.data[0]);
        else if (per_channel(slope.dims, x.shape)) s.assign(slope.data, slope.data + slope.count);
        else throw unsupported(n, "slopes of shape " + shape_text(slope.dims) + " are not per channel of " + shape_text(x.shape));
        define(n, add(n.out[0], "PReLU", "", {x.layer}, {Blob::own(std::move(s), {int32_t(c)})}, x.shape), x.shape);
    }

    void batch_norm(const Node &n) {
        if (n.geti("training_mode", 0) != 0) throw unsupported(n, "training mode");
        const Value x = value(n, 0);
        if (x.shape.size() < 2) throw unsupported(n, "input of shape " + shape_text(x.shape));
        size_t c = size_t(x.shape[1]);
        Floats gamma = weights(n, 1), beta = weights(n, 2), mean = weights(n, 3), var = weights(n, 4);
        for (const Floats *f : {&gamma, &beta, &mean, &var})
            if (f->count != c) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": parameters of shape " + shape_text(f->dims) + " for " + std::to_string(c) + " channels");
        float eps = n.getf("epsilon", 1e-5f);
        // In float, in this order, as OpenCV's BatchNorm layer folds it.
        std::vector<float> scale(c), shift(c);
        for (size_t i = 0; i < c; ++i) {
            float w = gamma.data[i] / std::sqrt(var.data[i] + eps);
            scale[i] = w;
            shift[i] = beta.data[i] - w * mean.data[i];
        }
        int32_t cc = int32_t(c);
        define(n, add(n.out[0], "Scale", "axis=1;bias_term=1", {x.layer}, {Blob::own(std::move(scale), {cc}), Blob::own(std::move(shift), {cc})}, x.shape),
               x.shape);
    }

    void binary(const Node &n) {
        if (n.in.size() != 2) throw unsupported(n, std::to_string(n.in.size()) + " inputs");
        const std::string &op = n.op;
        bool c0 = is_const(n.in[0]), c1 = is_const(n.in[1]);
        if (c0 || c1) return with_constant(n, c0 ? 0 : 1);
        const Value a = value(n, 0), b = value(n, 1);
        if (a.shape == b.shape) {
            if (op == "Sub") throw unsupported(n, "difference of two tensors");
            std::string operation = op == "Add" ? "sum" : op == "Mul" ? "prod" : op == "Max" ? "max" : "div";
            define(n, add(n.out[0], "Eltwise", "operation=" + operation, {a.layer, b.layer}, {}, a.shape), a.shape);
            return;
        }
        // Squeeze-and-excitation: x * s with s of shape (N, C, 1, 1).
        if (op == "Mul" && a.shape.size() == 4 && b.shape.size() == 4) {
            auto se = [&](const Value &big, const Value &s) {
                return s.shape[0] == big.shape[0] && s.shape[1] == big.shape[1] && s.shape[2] == 1 && s.shape[3] == 1;
            };
            const Value *big = nullptr, *s = nullptr;
            if (se(a, b)) { big = &a; s = &b; }
            else if (se(b, a)) { big = &b; s = &a; }
            if (big) {
                define(n, add(n.out[0], "Scale", "axis=1;bias_term=0", {big->layer, s->layer}, {}, big->shape), big->shape);
                return;
            }
        }
        throw unsupported(n, "tensors of shapes " + shape_text(a.shape) + " and " + shape_text(b.shape));
    }

    void with_constant(const Node &n, size_t k) {
        const std::string &op = n.op;
        const Value x = value(n, 1 - k);
        Floats c = weights(n, k);
        if (op == "Max") throw unsupported(n, "maximum with a constant");
        if (broadcast(x.shape, c.dims) != x.shape) throw unsupported(n, "a constant of shape " + shape_text(c.dims) + " widens " + shape_text(x.shape));
        bool reversed = k == 0;  // constant on the left
        if (c.count == 1) {
            double v = c.data[0], scale = 1, shift = 0;
            if (op == "Add") shift = v;
            else if (op == "Mul") scale = v;
            else if (op == "Sub") { if (reversed) { scale = -1; shift = v; } else shift = -v; }
            else if (op == "Div") { if (reversed) throw unsupported(n, "a constant divided by a tensor"); scale = 1.0f / float(v); }
            define(n, add(n.out[0], "Power", "power=1;scale=" + num(scale) + ";shift=" + num(shift), {x.layer}, {}, x.shape), x.shape);
            return;
        }
        if (!per_channel(c.dims, x.shape)) throw unsupported(n, "a constant of shape " + shape_text(c.dims) + " on " + shape_text(x.shape) + " (neither scalar nor per channel)");
        size_t channels = size_t(x.shape[1]);
        std::vector<float> w(channels, 1.0f), b(channels, 0.0f);
        bool with_bias = false;
        for (size_t i = 0; i < channels; ++i) {
            float v = c.data[i];
            if (op == "Add") { b[i] = v; with_bias = true; }
            else if (op == "Mul") w[i] = v;
            else if (op == "Sub") { with_bias = true; if (reversed) { w[i] = -1; b[i] = v; } else b[i] = -v; }
            else if (op == "Div") { if (reversed) throw unsupported(n, "a constant divided by a tensor"); w[i] = 1.0f / v; }
        }
        int32_t cc = int32_t(channels);
        std::vector<Blob> blobs{Blob::own(std::move(w), {cc})};
        if (with_bias) blobs.push_back(Blob::own(std::move(b), {cc}));
        define(n, add(n.out[0], "Scale", std::string("axis=1;bias_term=") + (with_bias ? "1" : "0"), {x.layer}, blobs, x.shape), x.shape);
    }

    void pow(const Node &n) {
        const Value x = value(n, 0);
        Const e = small(n, 1);
        if (e.v.size() != 1) throw unsupported(n, "an exponent that is not a scalar");
        define(n, add(n.out[0], "Power", "power=" + num(e.v[0]) + ";scale=1;shift=0", {x.layer}, {}, x.shape), x.shape);
    }

    void concat(const Node &n) {
        std::vector<int> ins;
        Shape out;
        for (size_t i = 0; i < n.in.size(); ++i) {
            const Value v = value(n, i);
            if (i == 0) {
                out = v.shape;
                if (out.size() != 2 && out.size() != 4) throw unsupported(n, "inputs of shape " + shape_text(out));
                if (norm_axis(n.geti("axis", 0), out.size()) != 1) throw unsupported(n, "concatenation along an axis other than channels");
            } else {
                if (v.shape.size() != out.size()) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": inputs of different ranks");
                for (size_t d = 0; d < out.size(); ++d)
                    if (d != 1 && v.shape[d] != out[d]) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": inputs of shapes that do not concatenate");
                out[1] += v.shape[1];
            }
            ins.push_back(v.layer);
        }
        define(n, add(n.out[0], "Concat", "axis=1", ins, {}, out), out);
    }

    // Nearest-neighbour upsampling by whole factors, where every ONNX
    // coordinate mode picks source pixel floor(dst / factor) (asymmetric with
    // floor, as PyTorch's interpolate exports it, and YuNet uses).
    void resize(const Node &n) {
        const Value &x = image(n);
        if (n.gets("mode") != "nearest") throw unsupported(n, "mode '" + n.gets("mode") + "'; nearest only");
        const std::string coords = n.gets("coordinate_transformation_mode");
        const std::string rounding = n.gets("nearest_mode");
        if (!(coords.empty() || coords == "asymmetric") || !(rounding.empty() || rounding == "floor"))
            throw unsupported(n, "coordinates '" + coords + "' rounded '" + rounding + "'");
        std::vector<double> factors;
        const size_t scales_at = n.op == "Upsample" ? 1 : 2;
        if (n.in.size() > scales_at && !n.in[scales_at].empty()) {
            Const c = small(n, scales_at);
            if (!c.v.empty()) factors = c.v;
        }
        if (factors.empty() && n.op == "Resize" && n.in.size() > 3 && !n.in[3].empty()) {
            Shape sizes = as_ints(small(n, 3));
            if (sizes.size() == 4)
                for (size_t i = 0; i < 4; ++i) factors.push_back(double(sizes[i]) / double(x.shape[i]));
        }
        if (factors.size() != 4 || factors[0] != 1 || factors[1] != 1) throw unsupported(n, "scales other than spatial");
        for (size_t i = 2; i < 4; ++i)
            if (factors[i] < 1 || factors[i] != std::floor(factors[i])) throw unsupported(n, "a scale that is not a whole number");
        Shape out = {x.shape[0], x.shape[1], x.shape[2] * int64_t(factors[2]), x.shape[3] * int64_t(factors[3])};
        define(n, add(n.out[0], "Resize", "interpolation=nearest;zoom_factor_y=" + std::to_string(int(factors[2])) +
                                              ";zoom_factor_x=" + std::to_string(int(factors[3])), {x.layer}, {}, out), out);
    }

    // (N, C, H, W) -> (N, C*H*W), in NCHW order as ONNX has it.
    void flatten_to(const Node &n, const Value &x) {
        if (x.shape.size() == 2) { define(n, x.layer, x.shape); return; }
        if (x.shape.size() != 4) throw unsupported(n, "input of shape " + shape_text(x.shape));
        Shape out = {x.shape[0], x.shape[1] * x.shape[2] * x.shape[3]};
        define(n, add(n.out[0], "Flatten", "axis=1", {x.layer}, {}, out), out);
    }

    void flatten(const Node &n) {
        const Value x = value(n, 0);
        int64_t axis = n.geti("axis", 1);
        if (axis < 0) axis += int64_t(x.shape.size());
        if (axis != 1) throw unsupported(n, "flattening at axis " + std::to_string(axis));
        flatten_to(n, x);
    }

    void reshape(const Node &n) {
        const Value x = value(n, 0, true);
        if (x.channels_last) {
            const Shape spec = as_ints(small(n, 1));
            const int64_t c = x.shape[1], hw = x.shape[2] * x.shape[3];
            const bool rows = spec.size() == 3 && (spec[0] == 1 || spec[0] == 0) && (spec[1] == -1 || spec[1] == hw) &&
                              (spec[2] == c || (spec[2] == -1 && spec[1] == hw));
            if (!rows) throw unsupported(n, "a channels-last view reshaped other than to (1, H*W, C)");
            values_[n.out.at(0)] = x;  // same layer, same order
            return;
        }
        Const spec = small(n, 1);
        Shape target = reshape_target(x.shape, as_ints(spec), n.geti("allowzero", 0) != 0);
        if (target.size() == 2 && target[0] == x.shape[0]) return flatten_to(n, x);
        if (target.size() == 4 && target[0] == x.shape[0]) {
            if (target == x.shape) { define(n, x.layer, x.shape); return; }
            std::string dims;
            for (int64_t d : target) dims += (dims.empty() ? "" : ",") + std::to_string(d);
            define(n, add(n.out[0], "Reshape", "dim=" + dims, {x.layer}, {}, target), target);
            return;
        }
        throw unsupported(n, "reshape of " + shape_text(x.shape) + " to " + shape_text(target));
    }

    // Gemm or MatMul with a constant matrix: an InnerProduct with OpenCV's
    // (out, in) weights.
    void dense(const Node &n) {
        const Value x = value(n, 0);
        if (x.shape.size() != 2) throw unsupported(n, "input of shape " + shape_text(x.shape) + "; a batch of vectors expected");
        bool gemm = n.op == "Gemm";
        if (gemm && n.geti("transA", 0)) throw unsupported(n, "transA");
        bool trans_b = gemm && n.geti("transB", 0) != 0;
        float alpha = gemm ? n.getf("alpha", 1.0f) : 1.0f, beta = gemm ? n.getf("beta", 1.0f) : 1.0f;
        Floats b = weights(n, 1);
        if (b.dims.size() != 2) throw unsupported(n, "a weight of shape " + shape_text(b.dims));
        int64_t in = trans_b ? b.dims[1] : b.dims[0], out = trans_b ? b.dims[0] : b.dims[1];
        if (in != x.shape[1]) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": a " + shape_text(b.dims) + " weight on input " + shape_text(x.shape));
        std::vector<Blob> blobs;
        std::vector<int32_t> wshape{int32_t(out), int32_t(in)};
        if (trans_b && alpha == 1.0f) blobs.push_back(Blob::borrow(b.data, wshape));
        else {
            std::vector<float> w(size_t(out * in));
            for (int64_t o = 0; o < out; ++o)
                for (int64_t i = 0; i < in; ++i)
                    w[size_t(o * in + i)] = alpha * (trans_b ? b.data[o * in + i] : b.data[i * out + o]);
            blobs.push_back(Blob::own(std::move(w), wshape));
        }
        if (gemm && n.in.size() > 2) {
            Floats c = weights(n, 2);
            std::vector<float> bias(static_cast<size_t>(out));
            if (c.count == 1) bias.assign(size_t(out), c.data[0]);
            else if (c.count == size_t(out) && (c.dims.size() == 1 || (c.dims.size() == 2 && c.dims[0] == 1))) bias.assign(c.data, c.data + c.count);
            else throw unsupported(n, "a bias of shape " + shape_text(c.dims));
            if (beta != 1.0f) for (float &v : bias) v *= beta;
            blobs.push_back(Blob::own(std::move(bias), {1, int32_t(out)}));
        }
        Shape shape = {x.shape[0], out};
        define(n, add(n.out[0], "InnerProduct", "num_output=" + std::to_string(out) + ";bias_term=" + (blobs.size() > 1 ? "1" : "0") + ";axis=1",
                      {x.layer}, blobs, shape),
               shape);
    }

    void pad(const Node &n) {
        const Value x = image(n);
        std::string mode = n.gets("mode");
        if (!mode.empty() && mode != "constant") throw unsupported(n, "mode " + mode);
        Shape pads = n.getints("pads");
        if (n.in.size() > 1) pads = as_ints(small(n, 1));
        if (n.in.size() > 3) throw unsupported(n, "padding chosen axes");
        double fill = n.getf("value", 0.0f);
        if (n.in.size() > 2 && !n.in[2].empty()) {
            Const v = small(n, 2);
            if (v.v.size() != 1) throw unsupported(n, "a fill value that is not a scalar");
            fill = v.v[0];
        }
        if (pads.size() != 8) throw unsupported(n, "pads of length " + std::to_string(pads.size()));
        for (int64_t p : pads) if (p < 0) throw unsupported(n, "cropping (negative pads)");
        if (pads[0] || pads[1] || pads[4] || pads[5]) throw unsupported(n, "padding the batch or channel axis");
        Shape out = {x.shape[0], x.shape[1], x.shape[2] + pads[2] + pads[6], x.shape[3] + pads[3] + pads[7]};
        std::string params = "paddings=0,0,0,0," + std::to_string(pads[2]) + "," + std::to_string(pads[6]) + "," +
                             std::to_string(pads[3]) + "," + std::to_string(pads[7]) + ";value=" + num(fill);
        define(n, add(n.out[0], "Padding", params, {x.layer}, {}, out), out);
    }

    void softmax(const Node &n) {
        const Value x = value(n, 0);
        int64_t axis = norm_axis(n.geti("axis", opset_ >= 13 ? -1 : 1), x.shape.size());
        // Before opset 13 the axis splits the tensor into two: over channels
        // only when nothing follows them.
        bool channels = axis == 1 && (x.shape.size() == 2 || (opset_ >= 13 && x.shape.size() == 4));
        if (!channels) throw unsupported(n, "softmax over axis " + std::to_string(axis) + " of " + shape_text(x.shape));
        define(n, add(n.out[0], "Softmax", "axis=1", {x.layer}, {}, x.shape), x.shape);
    }

    void lrn(const Node &n) {
        const Value x = image(n);
        int64_t size = n.geti("size", 0);
        if (size <= 0 || size % 2 == 0) throw unsupported(n, "an even window of " + std::to_string(size) + " channels");
        // ONNX divides alpha by the window, as OpenCV's norm_by_size does.
        std::string params = "norm_region=ACROSS_CHANNELS;local_size=" + std::to_string(size) + ";alpha=" + num(n.getf("alpha", 1e-4f)) +
                             ";beta=" + num(n.getf("beta", 0.75f)) + ";bias=" + num(n.getf("bias", 1.0f)) + ";norm_by_size=1";
        define(n, add(n.out[0], "LRN", params, {x.layer}, {}, x.shape), x.shape);
    }

    // The rewriter's L2 normalisation of vectors (onnx_rewrite.cpp).
    void normalize(const Node &n) {
        const Value x = value(n, 0);
        if (x.shape.size() != 2 || n.getf("p", 2) != 2 || n.geti("start_axis", 1) != 1 || n.geti("end_axis", -1) != -1)
            throw unsupported(n, "a normalisation other than L2 over vectors");
        define(n, add(n.out[0], "Normalize", "p=2;eps=" + num(n.getf("eps", 1e-10f)) + ";across_spatial=1", {x.layer}, {}, x.shape), x.shape);
    }
};

}  // namespace
}  // namespace fk::onnx

static fk_status from_onnx(const char *path, const int64_t *input_shape, int32_t rank, const char *plan_out, bool spatial,
                           fk_graph **out, int32_t *input_is_nhwc, fk_error *error) {
    return fk::guarded(error, FK_ERR_MODEL_LOAD, [&] {
        if (!path || !out || rank < 0 || rank > 8 || (rank > 0 && !input_shape))
            throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "fk_graph_from_onnx: bad arguments");
        *out = nullptr;
        fk_graph *graph = nullptr;
        fk_error inner{};
        // A saved plan that opens is the translation, already done. One that
        // does not (absent, stale, damaged) is written again below.
        if (plan_out && fk_graph_open_plan(plan_out, &graph, input_is_nhwc, &inner) == FK_OK) {
            *out = graph;
            return;
        }
        if (fk_graph_new(&graph, &inner) != FK_OK) throw fk::Failure(fk_status(inner.code), inner.message);
        std::unique_ptr<fk_graph, void (*)(fk_graph *)> holder(graph, fk_graph_free);
        std::vector<int32_t> input_nchw, outputs;
        bool nhwc = false;
        {
            // The layers hold copies of the weights once added: the file's
            // pages go before finish allocates the engine's own buffers, so
            // that a 500 MB model does not peak at three copies.
            fk::onnx::Mapping source(path);
            fk::onnx::Translator t(source.view(), fk::onnx::Shape(input_shape, input_shape + rank), graph, spatial);
            t.run();
            input_nchw = t.input_nchw;
            outputs = t.outputs;
            nhwc = t.input_nhwc;
        }
        if (plan_out && fk_graph_set_plan_output(graph, plan_out, nhwc ? 1 : 0, &inner) != FK_OK) throw fk::Failure(fk_status(inner.code), inner.message);
        fk_status st = fk_graph_finish(graph, input_nchw.data(), int32_t(input_nchw.size()), outputs.data(),
                                       int32_t(outputs.size()), &inner);
        if (st != FK_OK) throw fk::Failure(st, std::string("the translated graph does not build: ") + inner.message);
        if (input_is_nhwc) *input_is_nhwc = nhwc ? 1 : 0;
        *out = holder.release();
    });
}

extern "C" fk_status fk_graph_from_onnx(const char *path, const int64_t *input_shape, int32_t rank, const char *plan_out,
                                        fk_graph **out, int32_t *input_is_nhwc, fk_error *error) {
    return from_onnx(path, input_shape, rank, plan_out, false, out, input_is_nhwc, error);
}

extern "C" fk_status fk_graph_from_onnx_resized(const char *path, const int64_t *input_shape, int32_t rank,
                                                const char *plan_out, fk_graph **out, int32_t *input_is_nhwc,
                                                fk_error *error) {
    return from_onnx(path, input_shape, rank, plan_out, true, out, input_is_nhwc, error);
}
