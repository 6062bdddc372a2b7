// Rewrites an ONNX graph once, at import time, into a form that OpenCV 4.6's
// importer runs. PyTorch exports with a dynamic batch axis compute paddings,
// reshapes and branch conditions from tensor shapes at run time (Shape,
// Gather, Cast, Div, Concat, If, ...), and 4.6 only takes such operands as
// constants. With the input shape fixed, every one of those values is known
// before the first image: this file infers shapes through the graph,
// evaluates what depends only on constants and shapes, inlines If branches
// whose condition is then known, and moves operands that newer opsets pass
// as inputs (Squeeze/Unsqueeze/Reduce axes) back into attributes.
//
// Only the wire format is parsed (onnx_wire.hpp); weights are never decoded:
// they are copied from the source mapping to the output as they are.
#include "onnx_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fcntl.h>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <set>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>

namespace fk::onnx {
namespace {

// Tensors this small are decoded and may be folded; larger ones (weights)
// stay as bytes.
constexpr size_t kFoldLimit = 1 << 16;

std::string encode_tensor(const Const &c, const std::string &name) {
    Writer w;
    for (int64_t d : c.dims) w.i64(1, d);
    int dtype = c.dtype;
    std::string raw;
    switch (dtype) {
    case kFloat: for (double x : c.v) { float f = float(x); raw.append(reinterpret_cast<const char *>(&f), 4); } break;
    case kDouble: for (double x : c.v) raw.append(reinterpret_cast<const char *>(&x), 8); break;
    case kInt64: for (double x : c.v) { int64_t i = int64_t(x); raw.append(reinterpret_cast<const char *>(&i), 8); } break;
    case kInt32: for (double x : c.v) { int32_t i = int32_t(x); raw.append(reinterpret_cast<const char *>(&i), 4); } break;
    case kInt8: case kUint8: case kBool: for (double x : c.v) raw.push_back(char(int(x))); break;
    default: throw Failure(FK_ERR_MODEL_LOAD, "cannot write a constant of element type " + std::to_string(dtype));
    }
    w.u64(2, uint64_t(dtype));
    w.bytes(8, name);
    w.bytes(9, raw);
    return w.out;
}

// Copies a TensorProto under another name (a Constant node's value becoming
// an initializer).
std::string rename_tensor(std::string_view bytes, const std::string &name) {
    Writer w;
    Reader r(bytes);
    while (!r.done()) {
        Field f = r.next();
        if (f.number != 8) w.raw(f.whole);
    }
    w.bytes(8, name);
    return w.out;
}


Attr make_ints_attr(const std::string &name, const std::vector<int64_t> &values) {
    Writer w;
    w.bytes(1, name);
    w.packed_i64(8, values);
    w.u64(20, kAttrInts);
    Attr a = parse_attr(w.out);
    return a;
}

Attr make_float_attr(const std::string &name, float value) {
    Writer w;
    w.bytes(1, name);
    w.f32(2, value);
    w.u64(20, kAttrFloat);
    return parse_attr(w.out);
}


std::string encode_node(const Node &n) {
    Writer w;
    for (const auto &s : n.in) w.bytes(1, s);
    for (const auto &s : n.out) w.bytes(2, s);
    if (!n.name.empty()) w.bytes(3, n.name);
    w.bytes(4, n.op);
    for (const Attr &a : n.attrs) w.bytes(5, a.whole);
    if (!n.domain.empty()) w.bytes(7, n.domain);
    return w.out;
}


std::string encode_value_info(const std::string &name, int elem_type, const Shape *dims) {
    Writer shape;
    if (dims) for (int64_t d : *dims) { Writer dim; dim.i64(1, d); shape.bytes(1, dim.out); }
    Writer tensor;
    tensor.u64(1, uint64_t(elem_type ? elem_type : kFloat));
    if (dims) tensor.bytes(2, shape.out);
    Writer type;
    type.bytes(1, tensor.out);
    Writer vi;
    vi.bytes(1, name);
    vi.bytes(2, type.out);
    return vi.out;
}


struct SliceSpec { std::vector<int64_t> start, step, count; };

SliceSpec slice_spec(const Shape &in, const std::vector<int64_t> &starts, const std::vector<int64_t> &ends,
                     std::vector<int64_t> axes, std::vector<int64_t> steps) {
    size_t r = in.size();
    SliceSpec s{std::vector<int64_t>(r, 0), std::vector<int64_t>(r, 1), Shape(in)};
    if (axes.empty()) for (size_t i = 0; i < starts.size(); ++i) axes.push_back(int64_t(i));
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
        throw Failure(FK_ERR_MODEL_LOAD, "Slice operands differ in length");
    for (size_t i = 0; i < starts.size(); ++i) {
        size_t a = size_t(norm_axis(axes[i], r));
        int64_t dim = in[a], step = steps[i];
        if (step == 0) throw Failure(FK_ERR_MODEL_LOAD, "Slice with step 0");
        auto clampv = [&](int64_t v, bool is_start) {
            if (v < 0) v = v < -dim ? (step > 0 ? 0 : -1) : v + dim;
            if (step > 0) return std::clamp<int64_t>(v, 0, dim);
            (void)is_start;
            return std::clamp<int64_t>(v, -1, dim - 1);
        };
        int64_t b = clampv(starts[i], true), e = clampv(ends[i], false);
        int64_t count = step > 0 ? std::max<int64_t>(0, (e - b + step - 1) / step) : std::max<int64_t>(0, (b - e + (-step) - 1) / (-step));
        s.start[a] = b; s.step[a] = step; s.count[a] = count;
    }
    return s;
}

class Rewriter {
public:
    Rewriter(std::string_view data, const Shape &want) : data_(data), want_(want) {}

    // The whole rewritten model, as pieces to write one after the other.
    void run() {
        Reader r(data_);
        bool have_graph = false;
        while (!r.done()) {
            Field f = r.next();
            if (f.number == 7 && f.wire == kBytes) { graph_ = f.bytes; have_graph = true; }
            else model_fields_.push_back(f.whole);
        }
        if (!have_graph) throw malformed("no graph");
        process_main_graph();
    }

    void write(const std::string &path) const {
        std::string tmp = path + ".tmp" + std::to_string(::getpid());
        FILE *file = std::fopen(tmp.c_str(), "wb");
        if (!file) throw Failure(FK_ERR_IO, "cannot write " + tmp + ": " + std::strerror(errno));
        size_t graph_len = 0;
        for (auto piece : graph_pieces_) graph_len += piece.size();
        Writer head;
        head.tag(7, kBytes);
        head.varint(graph_len);
        bool ok = true;
        auto put = [&](std::string_view s) { if (ok && !s.empty()) ok = std::fwrite(s.data(), 1, s.size(), file) == s.size(); };
        for (auto field : model_fields_) put(field);
        put(head.out);
        for (auto piece : graph_pieces_) put(piece);
        ok = (std::fclose(file) == 0) && ok;
        if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
            std::remove(tmp.c_str());
            throw Failure(FK_ERR_IO, "cannot write " + path + ": " + std::strerror(errno));
        }
    }

    Shape input_shape, output_shape;
    int nodes_in = 0, nodes_out = 0;

private:
    std::string_view data_;
    Shape want_;
    std::string_view graph_;
    std::vector<std::string_view> model_fields_;
    std::vector<std::string_view> graph_pieces_;
    std::deque<std::string> owned_;

    std::unordered_map<std::string, Const> consts_;
    std::unordered_map<std::string, std::string_view> weights_;  // name -> TensorProto bytes
    std::unordered_map<std::string, std::string> weight_copies_;  // renamed Constant values
    std::unordered_map<std::string, Shape> shapes_;
    std::unordered_map<std::string, std::string> alias_;
    std::vector<Node> kept_;

    std::string_view own(std::string s) { owned_.push_back(std::move(s)); return owned_.back(); }

    std::string resolve(const std::string &name) const {
        auto it = alias_.find(name);
        return it == alias_.end() ? name : resolve(it->second);
    }

    bool known(const std::string &name) const { return shapes_.count(name) > 0; }

    const Shape *shape_of(const std::string &name) const {
        auto c = consts_.find(name);
        if (c != consts_.end()) return &c->second.dims;
        auto s = shapes_.find(name);
        return s == shapes_.end() ? nullptr : &s->second;
    }

    void add_initializer(std::string_view bytes) {
        TensorInfo info = peek_tensor(bytes);
        if (info.external) throw Failure(FK_ERR_MODEL_LOAD, "tensors stored outside the file (external data) are not supported");
        std::string name(info.name);
        if (info.dtype != kFloat || element_count(info.dims) <= int64_t(kFoldLimit)) {
            if (element_count(info.dims) <= int64_t(kFoldLimit)) {
                try { consts_[name] = decode_tensor(bytes); return; } catch (const Failure &) {}
            }
        }
        weights_[name] = bytes;
        shapes_[name] = info.dims;
    }

    void process_main_graph() {
        std::vector<std::string_view> nodes, inputs, outputs, others;
        std::string_view name;
        Reader r(graph_);
        while (!r.done()) {
            Field f = r.next();
            switch (f.number) {
            case 1: nodes.push_back(f.bytes); break;
            case 2: name = f.bytes; break;
            case 5: add_initializer(f.bytes); break;
            case 11: inputs.push_back(f.bytes); break;
            case 12: outputs.push_back(f.bytes); break;
            case 15: throw Failure(FK_ERR_MODEL_LOAD, "sparse initializers are not supported");
            default: break;  // value_info, doc strings, annotations: stale once shapes are fixed
            }
        }
        // The one real input: graph inputs that are not initializers.
        std::vector<ValueInfo> real;
        for (auto bytes : inputs) {
            ValueInfo vi = parse_value_info(bytes);
            if (!consts_.count(vi.name) && !weights_.count(vi.name)) real.push_back(vi);
        }
        if (real.size() != 1) throw Failure(FK_ERR_MODEL_LOAD, "the graph has " + std::to_string(real.size()) + " inputs; one image input expected");
        ValueInfo &in = real[0];
        if (in.has_shape && in.dims.size() != want_.size())
            throw Failure(FK_ERR_MODEL_LOAD, "the graph takes a " + shape_text(in.dims) + " input, not " + shape_text(want_) + " as this model needs");
        input_shape = want_;
        for (size_t i = 0; i < want_.size(); ++i) {
            int64_t have = in.has_shape ? in.dims[i] : -1;
            if (want_[i] < 0 && have < 0) throw Failure(FK_ERR_MODEL_LOAD, "input dimension " + std::to_string(i) + " is not fixed");
            if (want_[i] >= 0 && have >= 0 && have != want_[i])
                throw Failure(FK_ERR_MODEL_LOAD, "the graph takes a " + shape_text(in.dims) + " input, not " + shape_text(want_) + " as this model needs");
            input_shape[i] = want_[i] >= 0 ? want_[i] : have;
        }
        shapes_[in.name] = input_shape;
        nodes_in = int(nodes.size());

        for (auto bytes : nodes) process(parse_node(bytes));
        std::vector<std::string> graph_outputs;
        for (auto bytes : outputs) graph_outputs.push_back(resolve(parse_value_info(bytes).name));
        fuse_decompositions();
        drop_dead(graph_outputs);

        // Emit: nodes, then the initializers they use, then input and outputs.
        std::set<std::string> used;
        std::vector<std::string_view> node_bytes;
        for (Node &n : kept_) {
            for (auto &s : n.in) if (!s.empty()) used.insert(s);
            node_bytes.push_back(own(encode_node(n)));
        }
        std::vector<ValueInfo> outs;
        for (auto bytes : outputs) {
            ValueInfo vi = parse_value_info(bytes);
            vi.name = resolve(vi.name);
            if (consts_.count(vi.name)) throw Failure(FK_ERR_MODEL_LOAD, "the graph's output is a constant");
            used.insert(vi.name);
            outs.push_back(vi);
        }
        if (outs.empty()) throw Failure(FK_ERR_MODEL_LOAD, "the graph has no output");
        if (auto s = shape_of(outs[0].name)) output_shape = *s;
        nodes_out = int(kept_.size());

        Writer w;
        auto flush = [&] { if (!w.out.empty()) { graph_pieces_.push_back(own(std::move(w.out))); w.out.clear(); } };
        for (auto nb : node_bytes) { w.bytes(1, nb); if (w.out.size() > (1 << 20)) flush(); }
        w.bytes(2, name.empty() ? std::string_view("graph") : name);
        for (const auto &u : used) {
            if (auto c = consts_.find(u); c != consts_.end()) w.bytes(5, encode_tensor(c->second, u));
            else if (auto wc = weight_copies_.find(u); wc != weight_copies_.end()) { flush(); Writer t; t.tag(5, kBytes); t.varint(wc->second.size()); graph_pieces_.push_back(own(std::move(t.out))); graph_pieces_.push_back(wc->second); }
            else if (auto wt = weights_.find(u); wt != weights_.end()) {
                // Weights go out straight from the source mapping.
                w.tag(5, kBytes);
                w.varint(wt->second.size());
                flush();
                graph_pieces_.push_back(wt->second);
            }
        }
        w.bytes(11, encode_value_info(in.name, in.elem_type, &input_shape));
        for (auto &o : outs) {
            // 4.6 wants a shape on every output; symbolic dimensions are the batch.
            Shape dims = o.dims;
            if (const Shape *s = shape_of(o.name)) dims = *s;
            for (auto &d : dims) if (d < 0) d = 1;
            w.bytes(12, encode_value_info(o.name, o.elem_type, &dims));
        }
        flush();
    }

    // PyTorch exports two functions as chains of elementwise ops that 4.6
    // cannot run (5-D pooling, broadcasts between two computed tensors);
    // each chain is one operator 4.6 has.
    void fuse_decompositions() {
        std::unordered_map<std::string, size_t> producer;
        for (size_t i = 0; i < kept_.size(); ++i) for (auto &o : kept_[i].out) producer[o] = i;
        auto from = [&](const std::string &name, const char *op) -> Node * {
            auto it = producer.find(name);
            if (it == producer.end() || kept_[it->second].op != op) return nullptr;
            return &kept_[it->second];
        };
        auto scalar = [&](const Node *n, size_t i, double &value) {
            if (!n || i >= n->in.size()) return false;
            auto c = consts_.find(n->in[i]);
            if (c == consts_.end() || c->second.v.size() != 1) return false;
            value = c->second.v[0];
            return true;
        };
        for (Node &n : kept_) {
            // F.local_response_norm: x / (k + alpha * avgpool3d(pad(unsqueeze(x * x))))^beta
            if (n.op == "Div" && n.in.size() == 2) {
                double beta, k, alpha;
                Node *pw = from(n.in[1], "Pow");
                Node *add = pw && scalar(pw, 1, beta) ? from(pw->in[0], "Add") : nullptr;
                Node *mul = add && scalar(add, 1, k) ? from(add->in[0], "Mul") : nullptr;
                if (!mul || !scalar(mul, 1, alpha)) continue;
                std::string cur = mul->in[0];
                int64_t size = 0;
                bool square = false;
                for (int step = 0; step < 10 && !square; ++step) {
                    auto it = producer.find(cur);
                    if (it == producer.end()) break;
                    Node &p = kept_[it->second];
                    if (p.op == "AveragePool") {
                        Shape ks = p.getints("kernel_shape");
                        if (ks.size() != 3 || ks[1] != 1 || ks[2] != 1) break;
                        size = ks[0];
                    } else if (p.op == "Mul") {
                        square = p.in.size() == 2 && p.in[0] == p.in[1] && p.in[0] == n.in[0];
                        break;
                    } else if (p.op != "Reshape" && p.op != "Squeeze" && p.op != "Unsqueeze" && p.op != "Pad") break;
                    cur = p.in[0];
                }
                if (!square || size <= 0) continue;
                Node lrn;
                lrn.op = "LRN";
                lrn.name = n.name;
                lrn.in = {n.in[0]};
                lrn.out = n.out;
                lrn.set(make_float_attr("alpha", float(alpha)));
                lrn.set(make_float_attr("beta", float(beta)));
                lrn.set(make_float_attr("bias", float(k)));
                Writer w; w.bytes(1, "size"); w.i64(3, size); w.u64(20, kAttrInt);
                lrn.set(parse_attr(w.out));
                n = lrn;
                continue;
            }
            // x * rsqrt(clamp(sum(x * x, dim=1), eps)): an L2 normalisation.
            if (n.op == "Mul" && n.in.size() == 2) {
                double one;
                Node *div = from(n.in[1], "Div");
                Node *sq = div && scalar(div, 0, one) && one == 1 ? from(div->in[1], "Sqrt") : nullptr;
                Node *clip = sq ? from(sq->in[0], "Clip") : nullptr;
                Node *sum = clip ? from(clip->in[0], "ReduceSum") : nullptr;
                Node *square = sum ? from(sum->in[0], "Mul") : nullptr;
                if (!square || square->in[0] != n.in[0] || square->in[1] != n.in[0]) continue;
                Shape axes = sum->getints("axes");
                const Shape *xs = shape_of(n.in[0]);
                if (axes.size() != 1 || !xs || norm_axis(axes[0], xs->size()) != int64_t(xs->size()) - 1) continue;
                double eps = 0;
                if (const Attr *lo = clip->attr("min")) eps = lo->f;
                if (xs->size() != 2) continue;
                // 4.6's ONNX importer has no LpNormalization, but makes any
                // other op type from its layer registry: "Normalize" is the
                // L2 layer its Caffe and TensorFlow importers use.
                Node l2;
                l2.op = "Normalize";
                l2.name = n.name;
                l2.in = {n.in[0]};
                l2.out = n.out;
                l2.set(make_float_attr("p", 2.0f));
                l2.set(make_float_attr("eps", float(eps)));
                Writer b; b.bytes(1, "start_axis"); b.i64(3, 1); b.u64(20, kAttrInt);
                Writer c; c.bytes(1, "end_axis"); c.i64(3, -1); c.u64(20, kAttrInt);
                l2.set(parse_attr(b.out));
                l2.set(parse_attr(c.out));
                n = l2;
            }
        }
    }

    // Removes nodes whose outputs nothing reads.
    void drop_dead(const std::vector<std::string> &graph_outputs) {
        std::set<std::string> live(graph_outputs.begin(), graph_outputs.end());
        std::vector<bool> keep(kept_.size(), false);
        for (size_t i = kept_.size(); i-- > 0;) {
            for (auto &o : kept_[i].out) if (live.count(o)) keep[i] = true;
            if (keep[i]) for (auto &s : kept_[i].in) if (!s.empty()) live.insert(s);
        }
        std::vector<Node> out;
        for (size_t i = 0; i < kept_.size(); ++i) if (keep[i]) out.push_back(std::move(kept_[i]));
        kept_ = std::move(out);
    }

    // Evaluates or keeps one node.
    void process(Node n) {
        for (auto &s : n.in) if (!s.empty()) s = resolve(s);
        // Optional inputs left empty at the end mean "absent".
        while (!n.in.empty() && n.in.back().empty()) n.in.pop_back();
        if (!n.domain.empty() && n.domain != "ai.onnx") { keep(std::move(n)); return; }

        if (n.op == "Constant") { constant(n); return; }
        if (n.op == "If") { inline_if(n); return; }
        if (n.op == "Shape") {
            const Shape *s = shape_of(n.in.at(0));
            if (s) {
                int64_t r = int64_t(s->size());
                int64_t start = n.geti("start", 0), end = n.geti("end", r);
                if (start < 0) start += r;
                if (end < 0) end += r;
                start = std::clamp<int64_t>(start, 0, r); end = std::clamp<int64_t>(end, start, r);
                Const c{kInt64, {end - start}, {}};
                for (int64_t i = start; i < end; ++i) c.v.push_back(double((*s)[size_t(i)]));
                consts_[n.out.at(0)] = c;
                return;
            }
        }
        bool all_const = !n.in.empty();
        for (auto &s : n.in) if (!s.empty() && !consts_.count(s)) all_const = false;
        if (n.op == "ConstantOfShape" && consts_.count(n.in.at(0))) all_const = true;
        if (all_const) {
            if (auto folded = fold(n)) { consts_[n.out.at(0)] = std::move(*folded); return; }
        }
        adapt(n);
        infer(n);
        keep(std::move(n));
    }

    void keep(Node n) { kept_.push_back(std::move(n)); }

    void constant(const Node &n) {
        const std::string &out = n.out.at(0);
        if (const Attr *a = n.attr("value")) {
            TensorInfo info = peek_tensor(a->t);
            if (element_count(info.dims) <= int64_t(kFoldLimit)) { consts_[out] = decode_tensor(a->t); return; }
            weight_copies_[out] = rename_tensor(a->t, out);
            shapes_[out] = info.dims;
            return;
        }
        Const c;
        if (const Attr *a = n.attr("value_float")) c = Const{kFloat, {}, {double(a->f)}};
        else if (const Attr *a = n.attr("value_int")) c = Const{kInt64, {}, {double(a->i)}};
        else if (const Attr *a = n.attr("value_floats")) { c = Const{kFloat, {int64_t(a->floats.size())}, {}}; for (float x : a->floats) c.v.push_back(x); }
        else if (const Attr *a = n.attr("value_ints")) { c = Const{kInt64, {int64_t(a->ints.size())}, {}}; for (auto x : a->ints) c.v.push_back(double(x)); }
        else throw Failure(FK_ERR_MODEL_LOAD, "Constant node with an unsupported value kind");
        consts_[out] = c;
    }

    int if_depth_ = 0;

    void inline_if(const Node &n) {
        // Nesting is bounded so that a crafted file cannot exhaust the stack.
        if (if_depth_ >= 16) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": If nodes nested more than 16 deep");
        struct Depth { int &d; explicit Depth(int &v) : d(v) { ++d; } ~Depth() { --d; } } depth(if_depth_);
        auto cond = consts_.find(n.in.at(0));
        if (cond == consts_.end() || cond->second.v.size() != 1)
            throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": its condition is not known before run time");
        const Attr *branch = n.attr(cond->second.v[0] != 0 ? "then_branch" : "else_branch");
        if (!branch) throw malformed("If without its branches");
        std::vector<std::string> outs;
        Reader r(branch->g);
        std::vector<std::string_view> nodes;
        while (!r.done()) {
            Field f = r.next();
            if (f.number == 1) nodes.push_back(f.bytes);
            else if (f.number == 5) add_initializer(f.bytes);
            else if (f.number == 12) outs.push_back(parse_value_info(f.bytes).name);
        }
        for (auto bytes : nodes) process(parse_node(bytes));
        if (outs.size() != n.out.size()) throw malformed("If branch outputs differ from the node's");
        for (size_t i = 0; i < outs.size(); ++i) {
            std::string src = resolve(outs[i]);
            if (src == n.out[i]) continue;
            if (auto c = consts_.find(src); c != consts_.end()) consts_[n.out[i]] = c->second;
            else alias_[n.out[i]] = src;
        }
    }

    // Operands that OpenCV 4.6 reads only as attributes.
    void adapt(Node &n) {
        auto const_input = [&](size_t i) -> const Const * {
            if (i >= n.in.size()) return nullptr;
            auto it = consts_.find(n.in[i]);
            return it == consts_.end() ? nullptr : &it->second;
        };
        if ((n.op == "Squeeze" || n.op == "Unsqueeze" || n.op.rfind("Reduce", 0) == 0) && n.in.size() == 2) {
            const Const *axes = const_input(1);
            if (!axes) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": its axes are not known before run time");
            n.set(make_ints_attr("axes", as_ints(*axes)));
            n.in.pop_back();
        }
        if ((n.op == "Max" || n.op == "Min") && n.in.size() == 2) {
            // x against a scalar constant is a one-sided Clip.
            for (size_t k = 0; k < 2; ++k) {
                const Const *c = const_input(k);
                if (c && c->v.size() == 1 && !consts_.count(n.in[1 - k])) {
                    float bound = float(c->v[0]);
                    bool is_max = n.op == "Max";
                    n.in = {n.in[1 - k]};
                    n.op = "Clip";
                    n.attrs.clear();
                    n.set(make_float_attr(is_max ? "min" : "max", bound));
                    n.set(make_float_attr(is_max ? "max" : "min", is_max ? std::numeric_limits<float>::max() : -std::numeric_limits<float>::max()));
                    break;
                }
            }
        }
        if (n.op == "Clip" && n.in.size() > 1) {
            // Clip-11+ passes its bounds as inputs; 4.6 reads attributes.
            const Const *lo = n.in.size() > 1 && !n.in[1].empty() ? const_input(1) : nullptr;
            const Const *hi = n.in.size() > 2 && !n.in[2].empty() ? const_input(2) : nullptr;
            if ((n.in.size() > 1 && !n.in[1].empty() && !lo) || (n.in.size() > 2 && !n.in[2].empty() && !hi))
                throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": its bounds are not known before run time");
            float lo_v = lo ? float(lo->v.at(0)) : -std::numeric_limits<float>::max();
            float hi_v = hi ? float(hi->v.at(0)) : std::numeric_limits<float>::max();
            n.in.resize(1);
            n.set(make_float_attr("min", lo_v));
            n.set(make_float_attr("max", hi_v));
        }
    }

    std::optional<Const> fold(const Node &n) {
        auto in = [&](size_t i) -> const Const & { return consts_.at(n.in.at(i)); };
        auto has = [&](size_t i) { return i < n.in.size() && !n.in[i].empty(); };
        const std::string &op = n.op;

        static const std::set<std::string> unary = {"Identity", "Neg", "Sqrt", "Floor", "Ceil", "Abs", "Relu", "Reciprocal", "Not", "Exp", "Log", "Sigmoid"};
        static const std::set<std::string> binary = {"Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Max", "Min", "Mod"};
        if (unary.count(op)) {
            Const out = in(0);
            for (double &x : out.v) {
                if (op == "Neg") x = -x;
                else if (op == "Sqrt") x = std::sqrt(x);
                else if (op == "Floor") x = std::floor(x);
                else if (op == "Ceil") x = std::ceil(x);
                else if (op == "Abs") x = std::fabs(x);
                else if (op == "Relu") x = std::max(0.0, x);
                else if (op == "Reciprocal") x = 1.0 / x;
                else if (op == "Not") x = x == 0 ? 1 : 0;
                else if (op == "Exp") x = std::exp(x);
                else if (op == "Log") x = std::log(x);
                else if (op == "Sigmoid") x = 1.0 / (1.0 + std::exp(-x));
                x = out.normalise(x);
            }
            return out;
        }
        if (binary.count(op) && n.in.size() == 2) {
            const Const &a = in(0), &b = in(1);
            Const out;
            out.dims = broadcast(a.dims, b.dims);
            bool logical = op == "Equal" || op == "Less" || op == "Greater" || op == "LessOrEqual" || op == "GreaterOrEqual" || op == "And" || op == "Or" || op == "Xor";
            out.dtype = logical ? kBool : a.dtype;
            auto ia = broadcast_index(out.dims, a.dims), ib = broadcast_index(out.dims, b.dims);
            bool integral = is_integer(a.dtype);
            out.v.resize(ia.size());
            for (size_t k = 0; k < ia.size(); ++k) {
                double x = a.v[ia[k]], y = b.v[ib[k]], z = 0;
                if (op == "Add") z = x + y;
                else if (op == "Sub") z = x - y;
                else if (op == "Mul") z = x * y;
                else if (op == "Div") {
                    if (integral && y == 0) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": integer division by zero");
                    z = integral ? std::trunc(x / y) : x / y;
                }
                else if (op == "Pow") z = std::pow(x, y);
                else if (op == "Equal") z = x == y;
                else if (op == "Less") z = x < y;
                else if (op == "Greater") z = x > y;
                else if (op == "LessOrEqual") z = x <= y;
                else if (op == "GreaterOrEqual") z = x >= y;
                else if (op == "And") z = (x != 0) && (y != 0);
                else if (op == "Or") z = (x != 0) || (y != 0);
                else if (op == "Xor") z = (x != 0) != (y != 0);
                else if (op == "Max") z = std::max(x, y);
                else if (op == "Min") z = std::min(x, y);
                else if (op == "Mod") z = n.geti("fmod", 0) ? std::fmod(x, y) : x - std::floor(x / y) * y;
                out.v[k] = out.normalise(z);
            }
            return out;
        }
        if (op == "Cast") {
            Const out = in(0);
            out.dtype = int(n.geti("to", kFloat));
            if (out.dtype != kFloat && out.dtype != kDouble && !is_integer(out.dtype)) return std::nullopt;
            for (double &x : out.v) x = out.normalise(x);
            return out;
        }
        if (op == "Gather") {
            const Const &data = in(0), &idx = in(1);
            if (data.dims.empty()) return std::nullopt;
            size_t axis = size_t(norm_axis(n.geti("axis", 0), data.dims.size()));
            Const out{data.dtype, {}, {}};
            for (size_t i = 0; i < axis; ++i) out.dims.push_back(data.dims[i]);
            for (int64_t d : idx.dims) out.dims.push_back(d);
            for (size_t i = axis + 1; i < data.dims.size(); ++i) out.dims.push_back(data.dims[i]);
            int64_t outer = 1, inner = 1, dim = data.dims[axis];
            for (size_t i = 0; i < axis; ++i) outer *= data.dims[i];
            for (size_t i = axis + 1; i < data.dims.size(); ++i) inner *= data.dims[i];
            for (int64_t o = 0; o < outer; ++o)
                for (double iv : idx.v) {
                    int64_t j = int64_t(iv);
                    if (j < 0) j += dim;
                    if (j < 0 || j >= dim) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": index out of range");
                    for (int64_t k = 0; k < inner; ++k) out.v.push_back(data.v[size_t((o * dim + j) * inner + k)]);
                }
            return out;
        }
        if (op == "Unsqueeze" || op == "Squeeze") {
            Const out = in(0);
            std::vector<int64_t> axes = has(1) ? as_ints(in(1)) : n.getints("axes");
            if (op == "Unsqueeze") {
                size_t r = out.dims.size() + axes.size();
                for (auto &a : axes) a = norm_axis(a, r);
                std::sort(axes.begin(), axes.end());
                for (int64_t a : axes) out.dims.insert(out.dims.begin() + a, 1);
            } else {
                size_t r = out.dims.size();
                std::set<int64_t> drop;
                for (int64_t a : axes) drop.insert(norm_axis(a, r));
                Shape dims;
                for (size_t i = 0; i < r; ++i) if (!(drop.count(int64_t(i)) || (axes.empty() && out.dims[i] == 1))) dims.push_back(out.dims[i]);
                out.dims = dims;
            }
            return out;
        }
        if (op == "Concat") {
            Const out{in(0).dtype, in(0).dims, {}};
            if (out.dims.empty()) return std::nullopt;
            size_t axis = size_t(norm_axis(n.geti("axis", 0), out.dims.size()));
            int64_t outer = 1;
            for (size_t i = 0; i < axis; ++i) outer *= out.dims[i];
            out.dims[axis] = 0;
            for (size_t k = 0; k < n.in.size(); ++k) {
                const Const &part = in(k);
                if (part.dims.size() != out.dims.size()) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": inputs of different ranks");
                for (size_t i = 0; i < part.dims.size(); ++i)
                    if (i != axis && part.dims[i] != in(0).dims[i]) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": inputs of different shapes");
                out.dims[axis] += part.dims[axis];
            }
            for (int64_t o = 0; o < outer; ++o)
                for (size_t k = 0; k < n.in.size(); ++k) {
                    const Const &part = in(k);
                    size_t chunk = part.v.size() / size_t(std::max<int64_t>(outer, 1));
                    out.v.insert(out.v.end(), part.v.begin() + long(o * long(chunk)), part.v.begin() + long((o + 1) * long(chunk)));
                }
            return out;
        }
        if (op == "Reshape" || op == "Flatten") {
            Const out = in(0);
            if (op == "Reshape") out.dims = reshape_target(out.dims, as_ints(in(1)), n.geti("allowzero", 0) != 0);
            else {
                size_t axis = size_t(n.geti("axis", 1) < 0 ? n.geti("axis", 1) + int64_t(out.dims.size()) : n.geti("axis", 1));
                int64_t a = 1, b = 1;
                for (size_t i = 0; i < out.dims.size(); ++i) (i < axis ? a : b) *= out.dims[i];
                out.dims = {a, b};
            }
            return out;
        }
        if (op == "Transpose") return transpose_const(in(0), n.getints("perm"));
        if (op == "Slice") {
            const Const &x = in(0);
            std::vector<int64_t> starts, ends, axes, steps;
            if (has(1)) {
                starts = as_ints(in(1)); ends = as_ints(in(2));
                if (has(3)) axes = as_ints(in(3));
                if (has(4)) steps = as_ints(in(4));
            } else { starts = n.getints("starts"); ends = n.getints("ends"); axes = n.getints("axes"); }
            SliceSpec s = slice_spec(x.dims, starts, ends, axes, steps);
            Const out{x.dtype, s.count, {}};
            size_t r = x.dims.size();
            std::vector<int64_t> stride(r, 1);
            for (size_t k = r; k-- > 1;) stride[k - 1] = stride[k] * x.dims[k];
            size_t total = size_t(element_count(s.count));
            std::vector<int64_t> coord(r, 0);
            for (size_t flat = 0; flat < total; ++flat) {
                int64_t src = 0;
                for (size_t k = 0; k < r; ++k) src += (s.start[k] + coord[k] * s.step[k]) * stride[k];
                out.v.push_back(x.v[size_t(src)]);
                for (size_t k = r; k-- > 0;) { if (++coord[k] < s.count[k]) break; coord[k] = 0; }
            }
            return out;
        }
        if (op == "ConstantOfShape") {
            Const out{kFloat, as_ints(in(0)), {}};
            double value = 0;
            if (const Attr *a = n.attr("value")) { Const v = decode_tensor(a->t); out.dtype = v.dtype; if (!v.v.empty()) value = v.v[0]; }
            if (element_count(out.dims) > int64_t(kFoldLimit)) return std::nullopt;
            out.v.assign(size_t(element_count(out.dims)), value);
            return out;
        }
        if (op == "Range") {
            double start = in(0).v.at(0), limit = in(1).v.at(0), delta = in(2).v.at(0);
            if (delta == 0) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": Range with delta 0");
            Const out{in(0).dtype, {}, {}};
            int64_t count = std::max<int64_t>(0, int64_t(std::ceil((limit - start) / delta)));
            for (int64_t i = 0; i < count; ++i) out.v.push_back(out.normalise(start + double(i) * delta));
            out.dims = {count};
            return out;
        }
        if (op == "Where") {
            const Const &c = in(0), &a = in(1), &b = in(2);
            Const out{a.dtype, broadcast(broadcast(c.dims, a.dims), b.dims), {}};
            auto ic = broadcast_index(out.dims, c.dims), ia = broadcast_index(out.dims, a.dims), ib = broadcast_index(out.dims, b.dims);
            for (size_t k = 0; k < ic.size(); ++k) out.v.push_back(c.v[ic[k]] != 0 ? a.v[ia[k]] : b.v[ib[k]]);
            return out;
        }
        if (op == "Expand") {
            const Const &x = in(0);
            Const out{x.dtype, broadcast(x.dims, as_ints(in(1))), {}};
            for (size_t j : broadcast_index(out.dims, x.dims)) out.v.push_back(x.v[j]);
            return out;
        }
        if (op == "Size") return Const{kInt64, {}, {double(in(0).v.size())}};
        if (op == "ReduceProd" || op == "ReduceSum") {
            const Const &x = in(0);
            std::vector<int64_t> axes = has(1) ? as_ints(in(1)) : n.getints("axes");
            if (!axes.empty() || x.dims.size() > 1) return std::nullopt;  // only whole-vector reductions
            double acc = op == "ReduceProd" ? 1 : 0;
            for (double v : x.v) acc = op == "ReduceProd" ? acc * v : acc + v;
            Const out{x.dtype, n.geti("keepdims", 1) ? Shape(x.dims.size(), 1) : Shape{}, {x.normalise(acc)}};
            return out;
        }
        return std::nullopt;
    }

    // Output shapes of the nodes that stay, so that Shape nodes further on fold.
    void infer(const Node &n) {
        if (n.out.empty()) return;
        const Shape *x = n.in.empty() ? nullptr : shape_of(n.in[0]);
        const std::string &op = n.op;
        auto set = [&](Shape s) { shapes_[n.out[0]] = std::move(s); };
        auto cst = [&](size_t i) -> const Const * {
            if (i >= n.in.size() || n.in[i].empty()) return nullptr;
            auto it = consts_.find(n.in[i]);
            return it == consts_.end() ? nullptr : &it->second;
        };
        static const std::set<std::string> same = {
            "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Clip", "BatchNormalization", "Neg", "Sqrt",
            "Exp", "Log", "Tanh", "Abs", "Identity", "Dropout", "Cast", "LRN", "Softmax", "LogSoftmax", "Erf", "Reciprocal",
            "Floor", "Ceil", "InstanceNormalization", "Elu", "Selu", "Softplus", "Not", "Round", "Sign", "Mish"};
        static const std::set<std::string> binary = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Equal", "Less", "Greater", "And", "Or", "Sum", "Mean"};
        if (!x) return;
        if (same.count(op)) { set(*x); return; }
        if (binary.count(op)) {
            Shape s = *x;
            for (size_t i = 1; i < n.in.size(); ++i) { const Shape *y = shape_of(n.in[i]); if (!y) return; s = broadcast(s, *y); }
            set(s);
            return;
        }
        if (op == "Where" && n.in.size() == 3) {
            const Shape *a = shape_of(n.in[1]), *b = shape_of(n.in[2]);
            if (a && b) set(broadcast(broadcast(*x, *a), *b));
            return;
        }
        if (op == "Conv" || op == "MaxPool" || op == "AveragePool" || op == "LpPool") {
            if (x->size() < 3) return;
            size_t spatial = x->size() - 2;
            Shape kernel = n.getints("kernel_shape");
            int64_t channels = (*x)[1];
            if (op == "Conv") {
                const Shape *w = shape_of(n.in.at(1));
                if (!w || w->size() != x->size()) return;
                channels = (*w)[0];
                if (kernel.empty()) kernel.assign(w->begin() + 2, w->end());
            }
            if (kernel.size() != spatial) return;
            Shape strides = n.getints("strides"), dil = n.getints("dilations"), pads = n.getints("pads");
            if (strides.empty()) strides.assign(spatial, 1);
            if (dil.empty()) dil.assign(spatial, 1);
            if (pads.empty()) pads.assign(2 * spatial, 0);
            if (strides.size() != spatial || dil.size() != spatial || pads.size() != 2 * spatial)
                throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": strides, dilations or pads of the wrong length");
            for (size_t i = 0; i < spatial; ++i)
                if (strides[i] <= 0 || dil[i] <= 0 || kernel[i] <= 0) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": non-positive kernel, stride or dilation");
            std::string auto_pad = n.gets("auto_pad");
            bool ceil_mode = n.geti("ceil_mode", 0) != 0;
            Shape out = {(*x)[0], channels};
            for (size_t i = 0; i < spatial; ++i) {
                int64_t in_d = (*x)[i + 2], ext = dil[i] * (kernel[i] - 1) + 1, o;
                if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") o = (in_d + strides[i] - 1) / strides[i];
                else if (auto_pad == "VALID") o = (in_d - ext) / strides[i] + 1;
                else {
                    int64_t span = in_d + pads[i] + pads[i + spatial] - ext;
                    o = (ceil_mode ? (span + strides[i] - 1) / strides[i] : span / strides[i]) + 1;
                    // A last window that starts inside the right padding is dropped.
                    if (ceil_mode && (o - 1) * strides[i] >= in_d + pads[i]) --o;
                }
                out.push_back(o);
            }
            set(out);
            return;
        }
        if (op == "GlobalAveragePool" || op == "GlobalMaxPool") {
            Shape s = *x;
            for (size_t i = 2; i < s.size(); ++i) s[i] = 1;
            set(s);
            return;
        }
        if (op == "Transpose") {
            Shape perm = n.getints("perm"), s;
            if (perm.empty()) for (size_t i = 0; i < x->size(); ++i) perm.push_back(int64_t(x->size() - 1 - i));
            if (perm.size() != x->size()) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": permutation of the wrong length");
            for (int64_t p : perm) s.push_back((*x)[size_t(norm_axis(p, x->size()))]);
            set(s);
            return;
        }
        if (op == "Pad") {
            std::vector<int64_t> pads = n.getints("pads");
            if (const Const *p = cst(1)) pads = as_ints(*p);
            if (pads.size() != 2 * x->size()) return;
            Shape s = *x;
            for (size_t i = 0; i < s.size(); ++i) s[i] += pads[i] + pads[i + s.size()];
            set(s);
            return;
        }
        if (op == "Concat") {
            Shape s = *x;
            size_t axis = size_t(norm_axis(n.geti("axis", 0), s.size()));
            for (size_t i = 1; i < n.in.size(); ++i) {
                const Shape *y = shape_of(n.in[i]);
                if (!y) return;
                if (y->size() != s.size()) throw Failure(FK_ERR_MODEL_LOAD, n.label() + ": inputs of different ranks");
                s[axis] += (*y)[axis];
            }
            set(s);
            return;
        }
        if (op == "Flatten") {
            int64_t axis = n.geti("axis", 1);
            if (axis < 0) axis += int64_t(x->size());
            int64_t a = 1, b = 1;
            for (size_t i = 0; i < x->size(); ++i) (int64_t(i) < axis ? a : b) *= (*x)[i];
            set({a, b});
            return;
        }
        if (op == "Gemm") {
            const Shape *b = shape_of(n.in.at(1));
            if (!b || x->size() != 2 || b->size() != 2) return;
            set({n.geti("transA", 0) ? (*x)[1] : (*x)[0], n.geti("transB", 0) ? (*b)[0] : (*b)[1]});
            return;
        }
        if (op == "MatMul") {
            const Shape *b = shape_of(n.in.at(1));
            if (!b || x->size() < 2 || b->size() < 2) return;
            Shape batch = broadcast(Shape(x->begin(), x->end() - 2), Shape(b->begin(), b->end() - 2));
            batch.push_back((*x)[x->size() - 2]);
            batch.push_back(b->back());
            set(batch);
            return;
        }
        if (op == "Reshape") {
            if (const Const *spec = cst(1)) set(reshape_target(*x, as_ints(*spec), n.geti("allowzero", 0) != 0));
            return;
        }
        if (op == "Unsqueeze" || op == "Squeeze") {
            Const probe{kFloat, *x, {}};
            std::vector<int64_t> axes = n.getints("axes");
            Shape s = *x;
            if (op == "Unsqueeze") {
                size_t r = s.size() + axes.size();
                for (auto &a : axes) a = norm_axis(a, r);
                std::sort(axes.begin(), axes.end());
                for (int64_t a : axes) s.insert(s.begin() + a, 1);
            } else {
                std::set<int64_t> drop;
                for (int64_t a : axes) drop.insert(norm_axis(a, x->size()));
                s.clear();
                for (size_t i = 0; i < x->size(); ++i) if (!(drop.count(int64_t(i)) || (axes.empty() && (*x)[i] == 1))) s.push_back((*x)[i]);
            }
            set(s);
            return;
        }
        if (op == "Slice") {
            const Const *st = cst(1), *en = cst(2);
            if (!st || !en) return;
            const Const *ax = cst(3), *sp = cst(4);
            set(slice_spec(*x, as_ints(*st), as_ints(*en), ax ? as_ints(*ax) : std::vector<int64_t>{}, sp ? as_ints(*sp) : std::vector<int64_t>{}).count);
            return;
        }
        if (op.rfind("Reduce", 0) == 0) {
            std::vector<int64_t> axes = n.getints("axes");
            bool keep = n.geti("keepdims", 1) != 0;
            std::set<int64_t> red;
            for (int64_t a : axes) red.insert(norm_axis(a, x->size()));
            Shape s;
            for (size_t i = 0; i < x->size(); ++i) {
                bool r = axes.empty() || red.count(int64_t(i));
                if (!r) s.push_back((*x)[i]);
                else if (keep) s.push_back(1);
            }
            set(s);
            return;
        }
    }
};

}  // namespace
}  // namespace fk::onnx

extern "C" fk_status fk_onnx_rewrite(const char *source_path, const char *target_path, const int64_t *input_shape,
                                     int32_t rank, fk_onnx_report *report, fk_error *error) {
    return fk::guarded(error, FK_ERR_MODEL_LOAD, [&] {
        if (!source_path || !input_shape || rank <= 0 || rank > 8)
            throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "fk_onnx_rewrite: bad arguments");
        fk::onnx::Mapping source(source_path);
        fk::onnx::Rewriter rewriter(source.view(), std::vector<int64_t>(input_shape, input_shape + rank));
        rewriter.run();
        if (target_path) rewriter.write(target_path);
        if (report) {
            *report = fk_onnx_report{};
            report->nodes_in = rewriter.nodes_in;
            report->nodes_out = rewriter.nodes_out;
            report->output_rank = int32_t(std::min<size_t>(rewriter.output_shape.size(), 8));
            for (int32_t i = 0; i < report->output_rank; ++i) report->output_shape[i] = rewriter.output_shape[size_t(i)];
        }
    });
}
