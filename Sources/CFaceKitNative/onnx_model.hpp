// ONNX messages decoded from the wire format (onnx_wire.hpp): nodes,
// attributes, value infos, small constant tensors, shape helpers and a
// read-only file mapping. Shared by the rewriter (onnx_rewrite.cpp) and the
// graph translator (onnx_graph.cpp), so that both read a file the same way.
#pragma once

#include "onnx_wire.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fcntl.h>
#include <set>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fk::onnx {

enum DType : int { kFloat = 1, kUint8 = 2, kInt8 = 3, kInt32 = 6, kInt64 = 7, kBool = 9, kDouble = 11 };

using Shape = std::vector<int64_t>;

inline int64_t element_count(const Shape &dims) {
    int64_t n = 1;
    for (int64_t d : dims) {
        if (d < 0) throw Failure(FK_ERR_MODEL_LOAD, "negative dimension in a tensor");
        if (d > 0 && n > (int64_t(1) << 40) / d) throw Failure(FK_ERR_MODEL_LOAD, "a tensor larger than 2^40 elements");
        n *= d;
    }
    return n;
}

inline bool is_integer(int dtype) { return dtype == kInt64 || dtype == kInt32 || dtype == kInt8 || dtype == kUint8 || dtype == kBool; }

// A small tensor known before run time. Values are held as doubles: exact for
// every integer a shape computation produces and for every float32.
struct Const {
    int dtype = kFloat;
    Shape dims;
    std::vector<double> v;

    double normalise(double x) const {
        switch (dtype) {
        case kFloat: return double(float(x));
        case kBool: return x != 0 ? 1 : 0;
        case kDouble: return x;
        default: return std::trunc(x);
        }
    }
};

struct TensorInfo {
    std::string_view name;
    int dtype = 0;
    Shape dims;
    bool external = false;
};

inline TensorInfo peek_tensor(std::string_view bytes) {
    TensorInfo info;
    Reader r(bytes);
    while (!r.done()) {
        Field f = r.next();
        if (f.number == 1) append_ints(f, info.dims);
        else if (f.number == 2) info.dtype = int(f.value);
        else if (f.number == 8) info.name = f.bytes;
        else if (f.number == 13 || (f.number == 14 && f.value == 1)) info.external = true;
    }
    return info;
}

inline Const decode_tensor(std::string_view bytes) {
    Const c;
    std::string_view raw;
    bool has_raw = false;
    std::vector<int64_t> ints;
    std::vector<float> floats;
    std::vector<double> doubles;
    Reader r(bytes);
    while (!r.done()) {
        Field f = r.next();
        switch (f.number) {
        case 1: append_ints(f, c.dims); break;
        case 2: c.dtype = int(f.value); break;
        case 4: append_floats(f, floats); break;
        case 5: case 7: append_ints(f, ints); break;
        case 9: raw = f.bytes; has_raw = true; break;
        case 10: {
            if (f.wire == kFixed64) { double d; std::memcpy(&d, &f.value, 8); doubles.push_back(d); }
            else for (size_t i = 0; i + 8 <= f.bytes.size(); i += 8) { double d; std::memcpy(&d, f.bytes.data() + i, 8); doubles.push_back(d); }
            break;
        }
        case 13: throw Failure(FK_ERR_MODEL_LOAD, "tensors stored outside the file (external data) are not supported");
        default: break;
        }
    }
    size_t n = size_t(element_count(c.dims));
    c.v.resize(n);
    auto from_raw = [&](size_t width, auto read) {
        if (raw.size() != n * width) throw malformed("tensor data size does not match its shape");
        for (size_t i = 0; i < n; ++i) c.v[i] = read(raw.data() + i * width);
    };
    switch (c.dtype) {
    case kFloat:
        if (has_raw) from_raw(4, [](const char *p) { float x; std::memcpy(&x, p, 4); return double(x); });
        else { if (floats.size() != n) throw malformed("tensor data size does not match its shape"); for (size_t i = 0; i < n; ++i) c.v[i] = floats[i]; }
        break;
    case kDouble:
        if (has_raw) from_raw(8, [](const char *p) { double x; std::memcpy(&x, p, 8); return x; });
        else { if (doubles.size() != n) throw malformed("tensor data size does not match its shape"); c.v = doubles; }
        break;
    case kInt64:
        if (has_raw) from_raw(8, [](const char *p) { int64_t x; std::memcpy(&x, p, 8); return double(x); });
        else { if (ints.size() != n) throw malformed("tensor data size does not match its shape"); for (size_t i = 0; i < n; ++i) c.v[i] = double(ints[i]); }
        break;
    case kInt32: case kInt8: case kUint8: case kBool:
        if (has_raw) {
            size_t w = c.dtype == kInt32 ? 4 : 1;
            from_raw(w, [&](const char *p) {
                if (w == 4) { int32_t x; std::memcpy(&x, p, 4); return double(x); }
                return c.dtype == kInt8 ? double(int8_t(*p)) : double(uint8_t(*p));
            });
        } else { if (ints.size() != n) throw malformed("tensor data size does not match its shape"); for (size_t i = 0; i < n; ++i) c.v[i] = double(ints[i]); }
        break;
    default:
        throw Failure(FK_ERR_MODEL_LOAD, "constant of unsupported element type " + std::to_string(c.dtype));
    }
    return c;
}

struct Attr {
    std::string name;
    int64_t type = 0;
    int64_t i = 0;
    float f = 0;
    std::string_view s, t, g;
    std::vector<int64_t> ints;
    std::vector<float> floats;
    std::string whole;  // the serialized AttributeProto
};

inline Attr parse_attr(std::string_view bytes) {
    Attr a;
    a.whole = std::string(bytes);
    Reader r(bytes);
    while (!r.done()) {
        Field f = r.next();
        switch (f.number) {
        case 1: a.name = std::string(f.bytes); break;
        case 2: { uint32_t v = uint32_t(f.value); std::memcpy(&a.f, &v, 4); break; }
        case 3: a.i = int64_t(f.value); break;
        case 4: a.s = f.bytes; break;
        case 5: a.t = f.bytes; break;
        case 6: a.g = f.bytes; break;
        case 7: append_floats(f, a.floats); break;
        case 8: append_ints(f, a.ints); break;
        case 20: a.type = int64_t(f.value); break;
        case 21: throw Failure(FK_ERR_MODEL_LOAD, "attribute references (functions) are not supported");
        default: break;
        }
    }
    return a;
}

enum AttrType { kAttrFloat = 1, kAttrInt = 2, kAttrString = 3, kAttrTensor = 4, kAttrGraph = 5, kAttrFloats = 6, kAttrInts = 7 };

struct Node {
    std::vector<std::string> in, out;
    std::string name, op, domain;
    std::vector<Attr> attrs;

    const Attr *attr(const std::string &key) const {
        for (const Attr &a : attrs) if (a.name == key) return &a;
        return nullptr;
    }
    int64_t geti(const std::string &key, int64_t fallback) const { const Attr *a = attr(key); return a ? a->i : fallback; }
    float getf(const std::string &key, float fallback) const { const Attr *a = attr(key); return a ? a->f : fallback; }
    std::vector<int64_t> getints(const std::string &key) const { const Attr *a = attr(key); return a ? a->ints : std::vector<int64_t>{}; }
    std::string gets(const std::string &key) const { const Attr *a = attr(key); return a ? std::string(a->s) : std::string(); }
    void set(Attr a) {
        attrs.erase(std::remove_if(attrs.begin(), attrs.end(), [&](const Attr &x) { return x.name == a.name; }), attrs.end());
        attrs.push_back(std::move(a));
    }
    std::string label() const { return op + (name.empty() ? "" : " '" + name + "'"); }
};

inline Node parse_node(std::string_view bytes) {
    Node n;
    Reader r(bytes);
    while (!r.done()) {
        Field f = r.next();
        switch (f.number) {
        case 1: n.in.emplace_back(f.bytes); break;
        case 2: n.out.emplace_back(f.bytes); break;
        case 3: n.name = std::string(f.bytes); break;
        case 4: n.op = std::string(f.bytes); break;
        case 5: n.attrs.push_back(parse_attr(f.bytes)); break;
        case 7: n.domain = std::string(f.bytes); break;
        default: break;
        }
    }
    return n;
}

struct ValueInfo {
    std::string name;
    int elem_type = 0;
    bool has_shape = false;
    Shape dims;  // -1 for a symbolic dimension
};

inline ValueInfo parse_value_info(std::string_view bytes) {
    ValueInfo vi;
    Reader r(bytes);
    while (!r.done()) {
        Field f = r.next();
        if (f.number == 1) vi.name = std::string(f.bytes);
        else if (f.number == 2) {
            Reader tr(f.bytes);
            while (!tr.done()) {
                Field tf = tr.next();
                if (tf.number != 1) continue;  // tensor_type
                Reader tt(tf.bytes);
                while (!tt.done()) {
                    Field x = tt.next();
                    if (x.number == 1) vi.elem_type = int(x.value);
                    else if (x.number == 2) {
                        vi.has_shape = true;
                        Reader sr(x.bytes);
                        while (!sr.done()) {
                            Field d = sr.next();
                            if (d.number != 1) continue;
                            int64_t value = -1;
                            Reader dr(d.bytes);
                            while (!dr.done()) { Field y = dr.next(); if (y.number == 1) value = int64_t(y.value); }
                            vi.dims.push_back(value);
                        }
                    }
                }
            }
        }
    }
    return vi;
}

inline std::string shape_text(const Shape &s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) out += (i ? "x" : "") + (s[i] < 0 ? std::string("?") : std::to_string(s[i]));
    return out.empty() ? "scalar" : out;
}

// ------------------------------------------------------------ evaluation

inline Shape broadcast(const Shape &a, const Shape &b) {
    size_t r = std::max(a.size(), b.size());
    Shape out(r);
    for (size_t i = 0; i < r; ++i) {
        int64_t x = i < r - a.size() ? 1 : a[i - (r - a.size())];
        int64_t y = i < r - b.size() ? 1 : b[i - (r - b.size())];
        if (x != y && x != 1 && y != 1) throw Failure(FK_ERR_MODEL_LOAD, "shapes " + shape_text(a) + " and " + shape_text(b) + " do not broadcast");
        out[i] = x == 1 ? y : x;
    }
    return out;
}

// Index into a broadcast operand for each flat index of the output.
inline std::vector<size_t> broadcast_index(const Shape &out, const Shape &in) {
    size_t n = size_t(element_count(out));
    std::vector<size_t> idx(n);
    size_t r = out.size(), off = r - in.size();
    std::vector<int64_t> coord(r, 0);
    for (size_t flat = 0; flat < n; ++flat) {
        size_t j = 0;
        for (size_t k = off; k < r; ++k) j = j * size_t(in[k - off]) + (in[k - off] == 1 ? 0 : size_t(coord[k]));
        idx[flat] = j;
        for (size_t k = r; k-- > 0;) { if (++coord[k] < out[k]) break; coord[k] = 0; }
    }
    return idx;
}

inline int64_t norm_axis(int64_t axis, size_t rank) {
    int64_t a = axis < 0 ? axis + int64_t(rank) : axis;
    if (a < 0 || a >= int64_t(std::max<size_t>(rank, 1))) throw Failure(FK_ERR_MODEL_LOAD, "axis " + std::to_string(axis) + " out of range");
    return a;
}

inline std::vector<int64_t> as_ints(const Const &c) {
    std::vector<int64_t> out;
    for (double x : c.v) out.push_back(x >= 9.2e18 ? INT64_MAX : x <= -9.2e18 ? INT64_MIN : int64_t(x));
    return out;
}

inline Const transpose_const(const Const &x, std::vector<int64_t> perm) {
    size_t r = x.dims.size();
    if (r == 0) return x;
    if (perm.empty()) for (size_t i = 0; i < r; ++i) perm.push_back(int64_t(r - 1 - i));
    if (perm.size() != r) throw Failure(FK_ERR_MODEL_LOAD, "Transpose permutation of the wrong length");
    for (int64_t p : perm) if (p < 0 || size_t(p) >= r) throw Failure(FK_ERR_MODEL_LOAD, "Transpose permutation out of range");
    Const out{x.dtype, {}, {}};
    for (int64_t p : perm) out.dims.push_back(x.dims[size_t(p)]);
    out.v.resize(x.v.size());
    std::vector<int64_t> stride(r, 1);
    for (size_t k = r; k-- > 1;) stride[k - 1] = stride[k] * x.dims[k];
    std::vector<int64_t> coord(r, 0);
    for (size_t flat = 0; flat < out.v.size(); ++flat) {
        int64_t src = 0;
        for (size_t k = 0; k < r; ++k) src += coord[k] * stride[size_t(perm[k])];
        out.v[flat] = x.v[size_t(src)];
        for (size_t k = r; k-- > 0;) { if (++coord[k] < out.dims[k]) break; coord[k] = 0; }
    }
    return out;
}

inline Shape reshape_target(const Shape &in, const std::vector<int64_t> &spec, bool allowzero) {
    Shape out;
    int64_t known = 1, infer = -1;
    for (size_t i = 0; i < spec.size(); ++i) {
        int64_t d = spec[i];
        if (d == 0 && !allowzero) { if (i >= in.size()) throw Failure(FK_ERR_MODEL_LOAD, "Reshape copies a missing dimension"); d = in[i]; }
        if (d == -1) {
            if (infer >= 0) throw Failure(FK_ERR_MODEL_LOAD, "Reshape with two -1 dimensions");
            infer = int64_t(i); out.push_back(1); continue;
        }
        if (d < 0 || (d > 0 && known > (int64_t(1) << 40) / d)) throw Failure(FK_ERR_MODEL_LOAD, "Reshape to " + shape_text(spec) + " is impossible");
        known *= d;
        out.push_back(d);
    }
    int64_t total = element_count(in);
    if (infer >= 0) { if (known == 0 || total % known) throw Failure(FK_ERR_MODEL_LOAD, "Reshape of " + shape_text(in) + " to " + shape_text(spec) + " is impossible"); out[size_t(infer)] = total / known; }
    if (element_count(out) != total) throw Failure(FK_ERR_MODEL_LOAD, "Reshape of " + shape_text(in) + " to " + shape_text(spec) + " is impossible");
    return out;
}

// The file's bytes, mapped.
struct Mapping : MappedFile {
    explicit Mapping(const char *path) : MappedFile(path, 1, "not a valid ONNX file (empty)") {}
    std::string_view view() const { return {bytes(), size}; }
};

}  // namespace fk::onnx
