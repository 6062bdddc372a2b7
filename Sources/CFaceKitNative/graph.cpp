// Networks assembled layer by layer in OpenCV's vocabulary (architectures
// described in Swift, Keras models read from .h5, graphs translated from
// ONNX). They run on oneDNN (engine.cpp) when every layer is one it runs,
// else, or with FACEKIT_ENGINE=opencv, on OpenCV dnn as every ONNX and Caffe
// model does.
#include "engine.hpp"
#include "internal.hpp"

#include <opencv2/dnn.hpp>

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <sstream>

namespace {

// "k=v;k=v" into LayerParams. Lists of integers become DictValue arrays;
// numbers that parse as integers stay integers (LayerParams converts them to
// float or bool on demand).
void parse_params(const std::string &text, cv::dnn::LayerParams &params, const std::string &layer) {
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, ';')) {
        if (item.empty()) continue;
        auto eq = item.find('=');
        if (eq == std::string::npos || eq == 0)
            throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "layer '" + layer + "': bad parameter '" + item + "'");
        std::string key = item.substr(0, eq), value = item.substr(eq + 1);
        if (value.find(',') != std::string::npos) {
            std::vector<int> list;
            std::stringstream values(value);
            std::string v;
            while (std::getline(values, v, ',')) list.push_back(std::stoi(v));
            params.set(key, cv::dnn::DictValue::arrayInt(list.data(), static_cast<int>(list.size())));
            continue;
        }
        char *end = nullptr;
        long integer = std::strtol(value.c_str(), &end, 10);
        if (!value.empty() && *end == '\0') {
            params.set(key, static_cast<int>(integer));
            continue;
        }
        double real = std::strtod(value.c_str(), &end);
        if (!value.empty() && *end == '\0') {
            params.set(key, real);
            continue;
        }
        params.set(key, value);
    }
}

std::string shape_text(const std::vector<int> &shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
    return s + ")";
}

}  // namespace

// Saved plans. A graph that runs on oneDNN can be written out once built:
// its layers (parameters and small blobs) and every weight already folded
// and reordered into the layout its primitive wants. A later process maps
// the file and hands those bytes to the primitives as they lie: no parsing,
// no translation, no copy and no page of weights of its own (processes and
// workers share the page cache). Layouts depend on the CPU and the oneDNN
// build, so each is checked against the one this process would pick and a
// mismatch makes the plan stale (the caller rebuilds from the model file).
//
// File: magic, u64 head length, u64 data offset (page aligned), u64 file
// size, the head, then the data (blobs and weights, 64-byte aligned).
namespace fk::plan {

constexpr char kMagic[8] = {'F', 'K', 'P', 'L', 'A', 'N', '0', '1'};

// Private and writable: oneDNN only reads weights, but were anything to
// write, the page would be copied for this process, not crash it.
struct Mapping : MappedFile {
    explicit Mapping(const char *path) : MappedFile(path, 32, "not a FaceKit plan (too short)", true) {}
};

struct Writer {
    std::string head;
    std::vector<std::pair<const void *, size_t>> chunks;  // data, in order
    size_t data_size = 0;
    template <typename T>
    void put(T v) {
        head.append(reinterpret_cast<const char *>(&v), sizeof v);
    }
    void str(const std::string &v) {
        put<uint32_t>(static_cast<uint32_t>(v.size()));
        head += v;
    }
    void ints(const std::vector<int> &v) {
        put<uint32_t>(static_cast<uint32_t>(v.size()));
        for (int x : v) put<int32_t>(x);
    }
    // Data bytes kept by reference until written; returns their offset.
    uint64_t data(const void *p, size_t n) {
        data_size = (data_size + 63) / 64 * 64;
        chunks.push_back({p, n});
        uint64_t at = data_size;
        data_size += n;
        return at;
    }
};

struct Reader {
    const char *p, *end;
    template <typename T>
    T get() {
        if (static_cast<size_t>(end - p) < sizeof(T)) throw Failure(FK_ERR_MODEL_LOAD, "corrupt plan (head cut short)");
        T v;
        std::memcpy(&v, p, sizeof v);
        p += sizeof v;
        return v;
    }
    std::string str() {
        const uint32_t n = get<uint32_t>();
        if (static_cast<size_t>(end - p) < n) throw Failure(FK_ERR_MODEL_LOAD, "corrupt plan (head cut short)");
        std::string v(p, n);
        p += n;
        return v;
    }
    std::vector<int> ints() {
        const uint32_t n = get<uint32_t>();
        if (n > 1u << 20) throw Failure(FK_ERR_MODEL_LOAD, "corrupt plan (list length)");
        std::vector<int> v(n);
        for (auto &x : v) x = get<int32_t>();
        return v;
    }
};

enum : uint8_t { kInt = 0, kReal = 1, kString = 2 };

void put_params(Writer &w, const cv::dnn::LayerParams &lp) {
    w.put<uint32_t>(static_cast<uint32_t>(std::distance(lp.begin(), lp.end())));
    for (auto it = lp.begin(); it != lp.end(); ++it) {
        const cv::dnn::DictValue &v = it->second;
        w.str(it->first);
        const int n = v.size();
        if (v.isInt()) {
            w.put<uint8_t>(kInt);
            w.put<uint32_t>(static_cast<uint32_t>(n));
            for (int i = 0; i < n; ++i) w.put<int64_t>(v.get<int64_t>(i));
        } else if (v.isReal()) {
            w.put<uint8_t>(kReal);
            w.put<uint32_t>(static_cast<uint32_t>(n));
            for (int i = 0; i < n; ++i) w.put<double>(v.get<double>(i));
        } else {
            w.put<uint8_t>(kString);
            w.put<uint32_t>(static_cast<uint32_t>(n));
            for (int i = 0; i < n; ++i) w.str(v.get<cv::String>(i));
        }
    }
}

void get_params(Reader &r, cv::dnn::LayerParams &lp) {
    const uint32_t count = r.get<uint32_t>();
    for (uint32_t k = 0; k < count; ++k) {
        const std::string key = r.str();
        const uint8_t kind = r.get<uint8_t>();
        const uint32_t n = r.get<uint32_t>();
        if (n > 1u << 20) throw Failure(FK_ERR_MODEL_LOAD, "corrupt plan (parameter length)");
        if (kind == kInt) {
            std::vector<int64_t> v(n);
            for (auto &x : v) x = r.get<int64_t>();
            lp.set(key, n == 1 ? cv::dnn::DictValue(v[0]) : cv::dnn::DictValue::arrayInt(v.data(), static_cast<int>(n)));
        } else if (kind == kReal) {
            std::vector<double> v(n);
            for (auto &x : v) x = r.get<double>();
            lp.set(key, n == 1 ? cv::dnn::DictValue(v[0]) : cv::dnn::DictValue::arrayReal(v.data(), static_cast<int>(n)));
        } else if (kind == kString) {
            std::vector<cv::String> v(n);
            for (auto &x : v) x = r.str();
            lp.set(key, n == 1 ? cv::dnn::DictValue(v[0]) : cv::dnn::DictValue::arrayString(v.begin(), static_cast<int>(n)));
        } else {
            throw Failure(FK_ERR_MODEL_LOAD, "corrupt plan (parameter kind)");
        }
    }
}

}  // namespace fk::plan

struct fk_graph {
    cv::dnn::Net net;
    // The layers as added (index = id; 0 stands for the input), sharing their
    // blobs with net until fk_graph_finish picks the engine.
    std::vector<fk::engine::Layer> layers{1};
    std::string engine_choice;  // "opencv", "onednn" or empty: FACEKIT_ENGINE, else oneDNN when it can
    std::string plan_out;       // where fk_graph_finish writes the plan, if anywhere
    int32_t input_is_nhwc = 0;  // the ONNX translator's answer, kept in a plan
    // A saved plan's mapping: the net reads its weights there, so it goes after the net.
    std::shared_ptr<fk::plan::Mapping> plan;
    std::string plan_path;  // for messages
    std::unique_ptr<fk::engine::Net> onednn;
    std::vector<std::string> names{"input"};  // by id; 0 is the input
    std::vector<std::vector<int>> expected{{}};
    std::vector<int> input_shape;             // NCHW, batch 1
    std::vector<int> outputs;
    std::vector<cv::String> output_names;
    std::vector<std::vector<int>> output_shapes;
    size_t floats_per_sample = 0;
    cv::Mat input;   // reused NCHW buffer
    std::vector<cv::Mat> results;
    std::string summary;  // fk_graph_summary's text
};

// oneDNN's plan of the graph, checked against the description's shapes;
// nullptr and why when it cannot run every layer or a shape differs.
static std::unique_ptr<fk::engine::Net> plan_net(fk_graph *graph, std::string &why) {
    std::vector<std::vector<int>> shapes;
    auto net = fk::engine::Net::plan(graph->layers, graph->input_shape, graph->outputs, shapes, why);
    for (size_t id = 1; net && id < shapes.size(); ++id) {
        const auto &want = graph->expected[id];
        if (!want.empty() && want != shapes[id]) {
            why = "layer '" + graph->names[id] + "' gives shape " + shape_text(shapes[id]) + ", the description " + shape_text(want);
            net.reset();
        }
    }
    return net;
}

static bool profiling() {
    const char *profile = std::getenv("FACEKIT_PROFILE");
    return profile && std::string(profile) == "1";
}

// A loaded net becomes the graph's engine.
static void adopt(fk_graph *graph, std::unique_ptr<fk::engine::Net> net) {
    graph->output_shapes = net->output_shapes();
    graph->floats_per_sample = 0;
    for (const auto &s : graph->output_shapes) {
        size_t n = 1;
        for (int d : s) n *= static_cast<size_t>(d);
        graph->floats_per_sample += n;
    }
    // No pass is run here: the first real one touches the buffers as a
    // trial pass would, and a command that loads a network for one or two
    // faces would pay that pass's arithmetic for nothing.
    graph->onednn = std::move(net);
}

// The plan's head up to its weights, taken before load() frees the blobs:
// every layer, with the blobs load() does not consume copied out.
static void describe_plan(const fk_graph *graph, const std::vector<int> &weight_layers, fk::plan::Writer &w,
                          std::vector<std::vector<float>> &copies) {
    w.put<uint32_t>(static_cast<uint32_t>(graph->input_is_nhwc));
    w.ints(graph->input_shape);
    w.ints(graph->outputs);
    w.put<uint32_t>(static_cast<uint32_t>(graph->layers.size()));
    for (size_t id = 1; id < graph->layers.size(); ++id) {
        const auto &l = graph->layers[id];
        w.str(l.name);
        w.str(l.type);
        w.ints(l.inputs);
        w.ints(l.channels_last);
        w.ints(graph->expected[id]);
        fk::plan::put_params(w, l.params);
        const bool weighted = std::find(weight_layers.begin(), weight_layers.end(), static_cast<int>(id)) != weight_layers.end();
        w.put<uint32_t>(static_cast<uint32_t>(l.params.blobs.size()));
        for (size_t b = 0; b < l.params.blobs.size(); ++b) {
            const cv::Mat &m = l.params.blobs[b];
            if (m.type() != CV_32F || !m.isContinuous()) throw fk::Failure(FK_ERR_UNSUPPORTED, "a blob that is not contiguous float32");
            w.ints(std::vector<int>(m.size.p, m.size.p + m.dims));
            const bool stored = !(weighted && b == 0);
            w.put<uint8_t>(stored);
            if (!stored) continue;
            copies.emplace_back(m.ptr<float>(), m.ptr<float>() + m.total());
            w.put<uint64_t>(w.data(copies.back().data(), copies.back().size() * sizeof(float)));
            w.put<uint64_t>(m.total() * sizeof(float));
        }
    }
}

// Writes the plan beside its final name and renames it over: readers see the
// old file or the whole new one.
static void save_plan(const std::string &path, fk::plan::Writer &w, const fk::engine::Net &net) {
    const auto packed = net.packed();
    w.put<uint32_t>(static_cast<uint32_t>(packed.size()));
    for (const auto &p : packed) {
        w.str(p.desc);
        w.put<uint64_t>(w.data(p.data, p.size));
        w.put<uint64_t>(p.size);
    }
    const size_t page = 4096, head_end = 32 + w.head.size();
    const uint64_t data_offset = (head_end + page - 1) / page * page, file_size = data_offset + w.data_size;
    // Two workers of one process may build the same network at once: the
    // scratch name is the thread's.
    const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(static_cast<long>(::syscall(SYS_gettid)));
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw fk::Failure(FK_ERR_IO, "cannot write " + tmp + ": " + std::strerror(errno));
    auto put = [&](const void *p, size_t n) {
        const char *c = static_cast<const char *>(p);
        while (n > 0) {
            ssize_t k = ::write(fd, c, n);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) throw fk::Failure(FK_ERR_IO, "cannot write " + tmp + ": " + std::strerror(errno));
            c += k;
            n -= static_cast<size_t>(k);
        }
    };
    try {
        const uint64_t head_len = w.head.size();
        put(fk::plan::kMagic, 8);
        put(&head_len, 8);
        put(&data_offset, 8);
        put(&file_size, 8);
        put(w.head.data(), w.head.size());
        const std::vector<char> zeros(page, 0);
        put(zeros.data(), data_offset - head_end);
        size_t at = 0;
        for (const auto &[p, n] : w.chunks) {
            const size_t aligned = (at + 63) / 64 * 64;
            put(zeros.data(), aligned - at);
            put(p, n);
            at = aligned + n;
        }
        if (::fdatasync(fd) != 0) throw fk::Failure(FK_ERR_IO, "cannot write " + tmp + ": " + std::strerror(errno));
    } catch (...) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        ::unlink(tmp.c_str());
        throw fk::Failure(FK_ERR_IO, "cannot write " + path + ": " + std::strerror(errno));
    }
}

// Plans the graph on oneDNN and, when it can run every layer, replaces the
// OpenCV net with it. A graph it cannot run, or whose shapes differ from the
// description's, stays on OpenCV, which runs it or names the layer at fault
// as before; with FACEKIT_PROFILE=1 the reason is printed.
static bool use_onednn(fk_graph *graph) {
    std::string choice = graph->engine_choice;
    if (choice.empty()) {
        const char *env = std::getenv("FACEKIT_ENGINE");
        choice = env ? env : "";
    }
    if (choice == "opencv") return false;
    std::string why;
    auto net = plan_net(graph, why);
    const bool verbose = profiling();
    if (!net) {
        if (choice == "onednn") throw fk::Failure(FK_ERR_MODEL_LOAD, "oneDNN cannot run this graph: " + why);
        if (verbose) std::fprintf(stderr, "facekit: graph on OpenCV: %s\n", why.c_str());
        return false;
    }
    if (verbose) std::fprintf(stderr, "facekit: graph on oneDNN: %s\n", net->summary().c_str());
    fk::plan::Writer writer;
    std::vector<std::vector<float>> copies;
    bool saving = !graph->plan_out.empty();
    if (saving) {
        try {
            describe_plan(graph, net->weight_layers(), writer, copies);
        } catch (const fk::Failure &f) {
            if (verbose) std::fprintf(stderr, "facekit: no plan saved: %s\n", f.message.c_str());
            saving = false;
        }
    }
    // The OpenCV net goes first so that each blob is freed as soon as its
    // reordered copy exists.
    graph->net = cv::dnn::Net();
    net->load(graph->layers);
    graph->layers.clear();
    if (saving) {
        // A plan is only a cache: failing to write one (a read-only home)
        // costs the next process time, not this one its model.
        try {
            save_plan(graph->plan_out, writer, *net);
        } catch (const fk::Failure &f) {
            if (verbose) std::fprintf(stderr, "facekit: no plan saved: %s\n", f.message.c_str());
        }
    }
    adopt(graph, std::move(net));
    return true;
}

extern "C" {

fk_status fk_graph_new(fk_graph **out, fk_error *error) { return fk_graph_new_with_engine(out, nullptr, error); }

fk_status fk_graph_new_with_engine(fk_graph **out, const char *engine, fk_error *error) {
    return fk::guarded(error, FK_ERR_MODEL_LOAD, [&] {
        std::string choice = engine ? engine : "";
        if (!choice.empty() && choice != "opencv" && choice != "onednn")
            throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "unknown engine '" + choice + "' (opencv or onednn)");
        auto g = std::make_unique<fk_graph>();
        g->engine_choice = choice;
        g->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        g->net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
        g->net.setInputsNames({"input"});
        *out = g.release();
    });
}

void fk_graph_free(fk_graph *graph) { delete graph; }

int32_t fk_graph_borrow_activations(fk_graph *graph, const fk_graph *lender) {
    if (!graph || !lender || !graph->onednn || !lender->onednn || graph == lender) return 0;
    return graph->onednn->borrow_activations(*lender->onednn) ? 1 : 0;
}

fk_status fk_graph_add(fk_graph *graph, const char *name, const char *type, const char *params, const int32_t *inputs,
                       int32_t input_count, const fk_blob *blobs, int32_t blob_count, const int32_t *expected_shape,
                       int32_t expected_dims, int32_t *id, fk_error *error) {
    return fk::guarded(error, FK_ERR_MODEL_LOAD, [&] {
        std::string layer = name ? name : "";
        if (layer.empty() || !type) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "a layer needs a name and a type");
        if (std::find(graph->names.begin(), graph->names.end(), layer) != graph->names.end())
            throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "duplicate layer name '" + layer + "'");
        if (input_count < 1) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "layer '" + layer + "' has no input");
        cv::dnn::LayerParams lp;
        std::vector<int> channels_last;
        lp.name = layer;
        lp.type = type;
        parse_params(params ? params : "", lp, layer);
        for (int32_t b = 0; b < blob_count; ++b) {
            std::vector<int> shape(blobs[b].shape, blobs[b].shape + blobs[b].dims);
            // Blobs are copied: the Swift buffers live only for this call.
            cv::Mat source(static_cast<int>(shape.size()), shape.data(), CV_32F, const_cast<float *>(blobs[b].data));
            if (!blobs[b].from_keras) {
                lp.blobs.push_back(source.clone());
                continue;
            }
            if (shape.size() < 2) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "layer '" + layer + "': a Keras kernel needs two axes");
            const size_t out = static_cast<size_t>(shape[0]), in = static_cast<size_t>(shape[1]);
            size_t spatial = 1;
            for (size_t d = 2; d < shape.size(); ++d) spatial *= static_cast<size_t>(shape[d]);
            // One cache-blocked transpose (VGG-Face's fc6 alone is 100M
            // values): (spatial * in, out) -> (out, spatial * in). A kernel
            // with spatial axes stays in that (out, spatial..., in) order
            // until fk_graph_finish picks the engine: oneDNN reorders from it
            // directly, OpenCV gets (out, in, spatial...) then.
            cv::Mat blob(static_cast<int>(shape.size()), shape.data(), CV_32F);
            const int rows = static_cast<int>(spatial * in), cols = static_cast<int>(out);
            cv::Mat keras(rows, cols, CV_32F, const_cast<float *>(blobs[b].data));
            cv::Mat target(cols, rows, CV_32F, blob.ptr<float>());
            cv::transpose(keras, target);
            if (spatial > 1 && in > 1) channels_last.push_back(static_cast<int>(lp.blobs.size()));
            lp.blobs.push_back(blob);
        }
        for (int32_t i = 0; i < input_count; ++i) {
            if (inputs[i] < 0 || static_cast<size_t>(inputs[i]) >= graph->names.size())
                throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "layer '" + layer + "' names an unknown input");
        }
        int new_id;
        try {
            new_id = graph->net.addLayer(layer, type, lp);
            if (new_id < 0) throw fk::Failure(FK_ERR_MODEL_LOAD, "layer '" + layer + "': OpenCV has no layer type " + type);
            for (int32_t i = 0; i < input_count; ++i) graph->net.connect(inputs[i], 0, new_id, i);
        } catch (const cv::Exception &e) {
            throw fk::Failure(FK_ERR_MODEL_LOAD, "layer '" + layer + "' (" + type + "): " + e.err);
        }
        if (static_cast<size_t>(new_id) != graph->names.size())
            throw fk::Failure(FK_ERR_INTERNAL, "layer ids out of step at '" + layer + "'");
        graph->names.push_back(layer);
        graph->expected.emplace_back(expected_shape, expected_shape + expected_dims);
        graph->layers.push_back({layer, type, lp, std::vector<int>(inputs, inputs + input_count), channels_last});
        *id = new_id;
    });
}

fk_status fk_graph_finish(fk_graph *graph, const int32_t *input_shape, int32_t input_dims, const int32_t *outputs,
                          int32_t output_count, fk_error *error) {
    return fk::guarded(error, FK_ERR_MODEL_LOAD, [&] {
        if (input_dims != 4 || output_count < 1) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "a graph takes one NCHW input and has outputs");
        graph->input_shape.assign(input_shape, input_shape + input_dims);
        graph->outputs.assign(outputs, outputs + output_count);
        for (int o : graph->outputs) {
            if (o <= 0 || static_cast<size_t>(o) >= graph->names.size()) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "unknown output layer");
            graph->output_names.push_back(graph->names[o]);
        }
        if (use_onednn(graph)) return;
        // OpenCV's kernels are (out, in, spatial...): each output's
        // (spatial, in) block transposed in place (the net shares the data).
        for (auto &l : graph->layers) {
            for (int b : l.channels_last) {
                cv::Mat &blob = l.params.blobs[b];
                const int out = blob.size[0], in = blob.size[1], spatial = static_cast<int>(blob.total() / out / in);
                cv::Mat block(spatial, in, CV_32F);
                for (int o = 0; o < out; ++o) {
                    float *data = blob.ptr<float>() + static_cast<size_t>(o) * in * spatial;
                    std::memcpy(block.ptr<float>(), data, sizeof(float) * in * spatial);
                    cv::Mat target(in, spatial, CV_32F, data);
                    cv::transpose(block, target);
                }
            }
            l.channels_last.clear();
        }
        graph->net.setInputShape("input", graph->input_shape);

        // OpenCV's own shape inference, checked layer by layer against the
        // description's, so that a wrong description fails here, naming the
        // layer, rather than giving wrong numbers.
        std::vector<int> ids;
        std::vector<std::vector<cv::dnn::MatShape>> in_shapes, out_shapes;
        try {
            graph->net.getLayersShapes(graph->input_shape, ids, in_shapes, out_shapes);
        } catch (const cv::Exception &e) {
            throw fk::Failure(FK_ERR_MODEL_LOAD, std::string("shape inference failed: ") + e.err);
        }
        for (size_t i = 0; i < ids.size(); ++i) {
            int id = ids[i];
            if (id <= 0 || static_cast<size_t>(id) >= graph->names.size() || out_shapes[i].empty()) continue;
            const auto &want = graph->expected[id];
            const auto &got = out_shapes[i][0];
            if (!want.empty() && want != got)
                throw fk::Failure(FK_ERR_MODEL_LOAD, "layer '" + graph->names[id] + "' gives shape " + shape_text(got) +
                                                         ", the architecture expects " + shape_text(want));
        }
        graph->floats_per_sample = 0;
        graph->output_shapes.clear();
        for (int o : graph->outputs) {
            auto it = std::find(ids.begin(), ids.end(), o);
            if (it == ids.end()) throw fk::Failure(FK_ERR_MODEL_LOAD, "output '" + graph->names[o] + "' has no shape");
            auto shape = out_shapes[it - ids.begin()][0];
            graph->output_shapes.push_back(shape);
            size_t n = 1;
            for (int d : shape) n *= static_cast<size_t>(d);
            graph->floats_per_sample += n;
        }
        // The first forward pass allocates buffers and fuses layers; pay it now.
        graph->input = cv::Mat(graph->input_shape, CV_32F, cv::Scalar(0));
        graph->net.setInput(graph->input, "input");
        graph->net.forward(graph->results, graph->output_names);
        graph->layers.clear();
    });
}

fk_status fk_graph_set_plan_output(fk_graph *graph, const char *path, int32_t input_is_nhwc, fk_error *error) {
    return fk::guarded(error, FK_ERR_INVALID_ARGUMENT, [&] {
        if (!graph || !path) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "fk_graph_set_plan_output: bad arguments");
        graph->plan_out = path;
        graph->input_is_nhwc = input_is_nhwc;
    });
}

}  // extern "C"

// A graph from a plan's mapping (its weights stay there, read in place).
static void open_plan(std::shared_ptr<fk::plan::Mapping> map, const std::string &name, fk_graph **out,
                      int32_t *input_is_nhwc) {
    const char *path = name.c_str();
    const char *base = map->bytes();
    auto corrupt = [&](const std::string &what) { return fk::Failure(FK_ERR_MODEL_LOAD, std::string("corrupt plan ") + path + " (" + what + ")"); };
    if (std::memcmp(base, fk::plan::kMagic, 8) != 0) throw corrupt("not a FaceKit plan of this version");
    uint64_t head_len, data_offset, file_size;
    std::memcpy(&head_len, base + 8, 8);
    std::memcpy(&data_offset, base + 16, 8);
    std::memcpy(&file_size, base + 24, 8);
    if (file_size != map->size || head_len > map->size || 32 + head_len > data_offset || data_offset > map->size)
        throw corrupt("sizes");
    const char *data = base + data_offset;
    const uint64_t data_size = map->size - data_offset;
    fk::plan::Reader r{base + 32, base + 32 + head_len};
    auto g = std::make_unique<fk_graph>();
    g->engine_choice = "onednn";
    g->input_is_nhwc = static_cast<int32_t>(r.get<uint32_t>());
    g->input_shape = r.ints();
    g->outputs = r.ints();
    const uint32_t n = r.get<uint32_t>();
    if (n < 2 || n > 1u << 20 || g->input_shape.size() != 4 || g->outputs.empty()) throw corrupt("graph");
    for (uint32_t id = 1; id < n; ++id) {
        fk::engine::Layer l;
        l.name = r.str();
        l.type = r.str();
        l.inputs = r.ints();
        l.channels_last = r.ints();
        for (int i : l.inputs)
            if (i < 0 || static_cast<uint32_t>(i) >= id) throw corrupt("layer inputs");
        g->expected.push_back(r.ints());
        l.params.name = l.name;
        l.params.type = l.type;
        fk::plan::get_params(r, l.params);
        const uint32_t blobs = r.get<uint32_t>();
        for (uint32_t b = 0; b < blobs; ++b) {
            const std::vector<int> sizes = r.ints();
            size_t count = 1;
            for (int d : sizes) {
                if (d < 0) throw corrupt("blob shape");
                count *= static_cast<size_t>(d);
            }
            if (sizes.empty()) throw corrupt("blob shape");
            const bool stored = r.get<uint8_t>() != 0;
            // A weight load_packed replaces: its shape is all the plan
            // needs, and nothing reads the bytes behind it.
            const char *at = base;
            if (stored) {
                const uint64_t offset = r.get<uint64_t>(), bytes = r.get<uint64_t>();
                if (bytes != count * sizeof(float) || offset > data_size || bytes > data_size - offset) throw corrupt("blob bounds");
                at = data + offset;
            }
            l.params.blobs.push_back(cv::Mat(static_cast<int>(sizes.size()), sizes.data(), CV_32F, const_cast<char *>(at)));
        }
        g->names.push_back(l.name);
        g->layers.push_back(std::move(l));
    }
    for (int o : g->outputs)
        if (o <= 0 || static_cast<uint32_t>(o) >= n) throw corrupt("outputs");
    std::vector<fk::engine::Net::Packed> packed(r.get<uint32_t>());
    for (auto &p : packed) {
        p.desc = r.str();
        const uint64_t offset = r.get<uint64_t>();
        p.size = r.get<uint64_t>();
        if (offset > data_size || p.size > data_size - offset) throw corrupt("weight bounds");
        p.data = data + offset;
    }
    std::string why;
    auto net = plan_net(g.get(), why);
    if (!net) throw fk::Failure(FK_ERR_MODEL_LOAD, "stale plan " + std::string(path) + ": " + why);
    try {
        net->load_packed(g->layers, packed);
    } catch (const fk::engine::Stale &e) {
        throw fk::Failure(FK_ERR_MODEL_LOAD, "stale plan " + std::string(path) + ": " + e.what());
    }
    g->layers.clear();
    g->plan = std::move(map);
    if (profiling()) std::fprintf(stderr, "facekit: graph on oneDNN from plan %s: %s\n", path, net->summary().c_str());
    g->plan_path = name;
    adopt(g.get(), std::move(net));
    if (input_is_nhwc) *input_is_nhwc = g->input_is_nhwc;
    *out = g.release();
}

extern "C" {

fk_status fk_graph_open_plan(const char *path, fk_graph **out, int32_t *input_is_nhwc, fk_error *error) {
    return fk::guarded(error, FK_ERR_MODEL_LOAD, [&] {
        if (!path || !out) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "fk_graph_open_plan: bad arguments");
        *out = nullptr;
        const char *env = std::getenv("FACEKIT_ENGINE");
        if (env && std::string(env) == "opencv") throw fk::Failure(FK_ERR_UNSUPPORTED, "plans run on oneDNN, and FACEKIT_ENGINE=opencv");
        open_plan(std::make_shared<fk::plan::Mapping>(path), path, out, input_is_nhwc);
    });
}

fk_status fk_graph_open_sibling(const fk_graph *like, fk_graph **out, fk_error *error) {
    return fk::guarded(error, FK_ERR_MODEL_LOAD, [&] {
        if (!like || !out) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "fk_graph_open_sibling: bad arguments");
        *out = nullptr;
        if (!like->plan) throw fk::Failure(FK_ERR_UNSUPPORTED, "the graph was not opened from a plan");
        open_plan(like->plan, like->plan_path, out, nullptr);
    });
}

int32_t fk_graph_output_count(const fk_graph *graph) { return graph ? static_cast<int32_t>(graph->output_shapes.size()) : 0; }

fk_status fk_graph_output_shape(const fk_graph *graph, int32_t index, int32_t shape[8], int32_t *dims, fk_error *error) {
    return fk::guarded(error, FK_ERR_INVALID_ARGUMENT, [&] {
        if (!graph || !shape || !dims || index < 0 || static_cast<size_t>(index) >= graph->output_shapes.size())
            throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "no such output");
        const auto &s = graph->output_shapes[index];
        if (s.size() > 8) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "output of rank above 8");
        std::copy(s.begin(), s.end(), shape);
        *dims = static_cast<int32_t>(s.size());
    });
}

const char *fk_graph_engine(const fk_graph *graph) { return graph && graph->onednn ? "onednn" : "opencv"; }

const char *fk_graph_summary(fk_graph *graph) {
    if (!graph) return "";
    graph->summary = graph->onednn ? graph->onednn->summary() : "";
    return graph->summary.c_str();
}

fk_status fk_graph_forward(fk_graph *graph, const float *nhwc, int32_t count, float *out, size_t capacity,
                           size_t *written, fk_error *error) {
    return fk::guarded(error, FK_ERR_INFERENCE, [&] {
        if (graph->outputs.empty()) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "graph not finished");
        if (count < 0) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "negative sample count");
        size_t need = graph->floats_per_sample * static_cast<size_t>(count);
        *written = need;
        if (need > capacity) throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "output buffer too small");
        const int C = graph->input_shape[1], H = graph->input_shape[2], W = graph->input_shape[3];
        const size_t plane = static_cast<size_t>(H) * W, per_sample = plane * C;
        if (graph->onednn) {
            for (int32_t n = 0; n < count; ++n) graph->onednn->forward(nhwc + n * per_sample, out + n * graph->floats_per_sample);
            return;
        }
        float *dst = out;
        for (int32_t n = 0; n < count; ++n) {
            const float *src = nhwc + n * per_sample;
            float *chw = graph->input.ptr<float>();
            for (size_t p = 0; p < plane; ++p)
                for (int c = 0; c < C; ++c) chw[c * plane + p] = src[p * C + c];
            graph->net.setInput(graph->input, "input");
            graph->net.forward(graph->results, graph->output_names);
            for (size_t o = 0; o < graph->results.size(); ++o) {
                cv::Mat r = graph->results[o].isContinuous() ? graph->results[o] : graph->results[o].clone();
                const float *data = r.ptr<float>();
                size_t total = r.total();
                if (total * count > need) throw fk::Failure(FK_ERR_INFERENCE, "output size changed between passes");
                if (r.dims == 4) {
                    // Back to Keras' channels-last order.
                    const int oc = r.size[1], oh = r.size[2], ow = r.size[3];
                    for (int y = 0; y < oh; ++y)
                        for (int x = 0; x < ow; ++x)
                            for (int c = 0; c < oc; ++c) *dst++ = data[(static_cast<size_t>(c) * oh + y) * ow + x];
                } else {
                    std::memcpy(dst, data, total * sizeof(float));
                    dst += total;
                }
            }
        }
    });
}

}  // extern "C"
