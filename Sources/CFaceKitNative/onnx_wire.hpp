// Protocol Buffers wire format, just enough of it to read and write ONNX
// (ModelProto and the messages it holds) without a protobuf dependency.
// Readers return views into the caller's buffer: nothing is copied, so a
// 500 MB model is read through its mapping.
#pragma once

#include "internal.hpp"

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace fk::onnx {

enum Wire : uint32_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

struct Field {
    uint32_t number = 0;
    uint32_t wire = 0;
    uint64_t value = 0;       // varint, fixed32 or fixed64 payload
    std::string_view bytes;   // length-delimited payload
    std::string_view whole;   // tag + payload, to copy the field unchanged
};

inline Failure malformed(const std::string &what) {
    return Failure(FK_ERR_MODEL_LOAD, "not a valid ONNX file (" + what + ")");
}

class Reader {
public:
    explicit Reader(std::string_view data) : p_(data.data()), end_(data.data() + data.size()) {}
    bool done() const { return p_ >= end_; }

    uint64_t varint() {
        uint64_t result = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p_ >= end_) throw malformed("truncated varint");
            uint8_t byte = static_cast<uint8_t>(*p_++);
            result |= uint64_t(byte & 0x7f) << shift;
            if (!(byte & 0x80)) return result;
        }
        throw malformed("varint longer than 10 bytes");
    }

    Field next() {
        Field f;
        const char *start = p_;
        uint64_t tag = varint();
        f.number = uint32_t(tag >> 3);
        f.wire = uint32_t(tag & 7);
        if (f.number == 0) throw malformed("field number 0");
        switch (f.wire) {
        case kVarint: f.value = varint(); break;
        case kFixed64: need(8); std::memcpy(&f.value, p_, 8); p_ += 8; break;
        case kFixed32: { need(4); uint32_t v; std::memcpy(&v, p_, 4); f.value = v; p_ += 4; break; }
        case kBytes: {
            uint64_t n = varint();
            if (n > uint64_t(end_ - p_)) throw malformed("length past the end of the data (truncated file?)");
            f.bytes = std::string_view(p_, size_t(n));
            p_ += n;
            break;
        }
        default: throw malformed("unsupported wire type " + std::to_string(f.wire));
        }
        f.whole = std::string_view(start, size_t(p_ - start));
        return f;
    }

private:
    void need(size_t n) { if (size_t(end_ - p_) < n) throw malformed("truncated fixed-width field"); }
    const char *p_;
    const char *end_;
};

// Builds one message. Fields are appended in order; sub-messages are built
// first and appended as bytes.
class Writer {
public:
    std::string out;
    void varint(uint64_t v) {
        while (v >= 0x80) { out.push_back(char(uint8_t(v) | 0x80)); v >>= 7; }
        out.push_back(char(v));
    }
    void tag(uint32_t number, uint32_t wire) { varint((uint64_t(number) << 3) | wire); }
    void u64(uint32_t number, uint64_t v) { tag(number, kVarint); varint(v); }
    void i64(uint32_t number, int64_t v) { u64(number, uint64_t(v)); }
    void f32(uint32_t number, float v) { tag(number, kFixed32); char b[4]; std::memcpy(b, &v, 4); out.append(b, 4); }
    void bytes(uint32_t number, std::string_view v) { tag(number, kBytes); varint(v.size()); out.append(v); }
    void raw(std::string_view whole_field) { out.append(whole_field); }
    void packed_i64(uint32_t number, const std::vector<int64_t> &vs) {
        Writer inner;
        for (int64_t v : vs) inner.varint(uint64_t(v));
        bytes(number, inner.out);
    }
};

// Varint-packed (or repeated unpacked) int64 values of one field.
inline void append_ints(const Field &f, std::vector<int64_t> &to) {
    if (f.wire == kVarint) { to.push_back(int64_t(f.value)); return; }
    if (f.wire != kBytes) throw malformed("bad encoding of an integer list");
    Reader r(f.bytes);
    while (!r.done()) to.push_back(int64_t(r.varint()));
}

inline void append_floats(const Field &f, std::vector<float> &to) {
    if (f.wire == kFixed32) { uint32_t v = uint32_t(f.value); float x; std::memcpy(&x, &v, 4); to.push_back(x); return; }
    if (f.wire != kBytes || f.bytes.size() % 4) throw malformed("bad encoding of a float list");
    for (size_t i = 0; i < f.bytes.size(); i += 4) { float x; std::memcpy(&x, f.bytes.data() + i, 4); to.push_back(x); }
}

}  // namespace fk::onnx
