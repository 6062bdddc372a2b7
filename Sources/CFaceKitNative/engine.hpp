// A small inference engine over oneDNN primitives for the layer graphs of
// graph.cpp: the same OpenCV layer vocabulary and semantics, run with
// oneDNN's convolutions (2.5-3.5x faster than OpenCV 4.6's on AVX-512).
// Never included from Swift.
#pragma once

#include <opencv2/dnn.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace fk::engine {

// One layer as fk_graph_add recorded it: OpenCV's type name and parameters,
// blobs in OpenCV's layouts.
struct Layer {
    std::string name, type;
    cv::dnn::LayerParams params;
    std::vector<int> inputs;  // earlier layer ids; 0 is the graph input
    // Blobs still in Keras' kernel order (out, spatial..., in) under
    // OpenCV's shape (out, in, spatial...).
    std::vector<int> channels_last;
};

class Net {
public:
    // Plans layers[1...] (layers[0] stands for the input, NCHW shape
    // input_shape) into primitives. Returns nullptr and says why when a layer
    // or parameter is beyond the engine, so that the caller runs OpenCV
    // instead. shapes[id] receives every layer's output shape (OpenCV's).
    // Weights are not touched yet: a failed plan leaves layers intact.
    static std::unique_ptr<Net> plan(const std::vector<Layer> &layers, const std::vector<int> &input_shape,
                                     const std::vector<int> &outputs, std::vector<std::vector<int>> &shapes,
                                     std::string &why_not);
    // Folds and reorders the weights into the primitives' layouts, releasing
    // each layer's blobs as soon as they are copied.
    void load(std::vector<Layer> &layers);
    // A saved plan's weights: each one's layout (raw dnnl_memory_desc_t) and
    // bytes, already folded and reordered, in the order load() takes them.
    struct Packed {
        std::string desc;
        const void *data;
        size_t size;
    };
    // Ids of the layers whose blob 0 load() consumes (the rest of a plan's
    // layers keep their blobs).
    std::vector<int> weight_layers() const;
    // load() from a saved plan: the weights are used where they lie (they
    // must outlive the net), the layers' blobs are not read. Throws
    // Stale when a layout is not the one this build and CPU would pick.
    void load_packed(std::vector<Layer> &layers, const std::vector<Packed> &packed);
    // After a load: the weights as load_packed takes them (they live as long
    // as the net).
    std::vector<Packed> packed() const;
    // One sample: NHWC input; every output flattened in Keras' order (NHWC
    // for 4-d outputs), one after another.
    void forward(const float *nhwc, float *out);
    const std::vector<std::vector<int>> &output_shapes() const;
    // Runs in `lender`'s activation blocks and scratchpad instead of its own
    // (which it frees), when each of its blocks fits in the lender's: the
    // same net at a smaller input. The two must never run at once, and the
    // lender must outlive this net. False, and nothing changed, otherwise.
    bool borrow_activations(const Net &lender);
    // Layers, primitives, fused layers and inserted reorders, for FACEKIT_PROFILE.
    std::string summary() const;
    ~Net();

    struct Impl;

private:
    std::unique_ptr<Impl> impl;
};

// A saved plan that no longer matches (another CPU, another oneDNN).
struct Stale : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Threads each forward pass may use; <= 0: all cores.
void set_threads(int threads);

}  // namespace fk::engine
