// Networks assembled layer by layer in OpenCV's vocabulary (architectures
// described in Swift, Keras models read from .h5, graphs translated from
// ONNX). They run on oneDNN (engine.cpp) when every layer is one it runs,
// else, or with FACEKIT_ENGINE=opencv, on OpenCV dnn as every ONNX and Caffe
// model does.
#include "engine.hpp"
#include "internal.hpp"

#include <opencv2/dnn.hpp>

#include <cstdio>
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

struct fk_graph {
    cv::dnn::Net net;
    // The layers as added (index = id; 0 stands for the input), sharing their
    // blobs with net until fk_graph_finish picks the engine.
    std::vector<fk::engine::Layer> layers{1};
    std::string engine_choice;  // "opencv", "onednn" or empty: FACEKIT_ENGINE, else oneDNN when it can
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
};

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
    std::vector<std::vector<int>> shapes;
    auto net = fk::engine::Net::plan(graph->layers, graph->input_shape, graph->outputs, shapes, why);
    for (size_t id = 1; net && id < shapes.size(); ++id) {
        const auto &want = graph->expected[id];
        if (!want.empty() && want != shapes[id]) {
            why = "layer '" + graph->names[id] + "' gives shape " + shape_text(shapes[id]) + ", the description " + shape_text(want);
            net.reset();
        }
    }
    const char *profile = std::getenv("FACEKIT_PROFILE");
    const bool verbose = profile && std::string(profile) == "1";
    if (!net) {
        if (choice == "onednn") throw fk::Failure(FK_ERR_MODEL_LOAD, "oneDNN cannot run this graph: " + why);
        if (verbose) std::fprintf(stderr, "facekit: graph on OpenCV: %s\n", why.c_str());
        return false;
    }
    if (verbose) std::fprintf(stderr, "facekit: graph on oneDNN: %s\n", net->summary().c_str());
    // The OpenCV net goes first so that each blob is freed as soon as its
    // reordered copy exists.
    graph->net = cv::dnn::Net();
    net->load(graph->layers);
    graph->layers.clear();
    graph->output_shapes = net->output_shapes();
    graph->floats_per_sample = 0;
    for (const auto &s : graph->output_shapes) {
        size_t n = 1;
        for (int d : s) n *= static_cast<size_t>(d);
        graph->floats_per_sample += n;
    }
    // The first pass touches every buffer; pay it now.
    std::vector<float> in(static_cast<size_t>(graph->input_shape[1]) * graph->input_shape[2] * graph->input_shape[3], 0.f),
        out(graph->floats_per_sample);
    net->forward(in.data(), out.data());
    graph->onednn = std::move(net);
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

const char *fk_graph_engine(const fk_graph *graph) { return graph && graph->onednn ? "onednn" : "opencv"; }

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
