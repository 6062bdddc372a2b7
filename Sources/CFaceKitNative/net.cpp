// Generic OpenCV dnn networks (ONNX, Caffe, TensorFlow) behind one handle.
#include "internal.hpp"

#include <opencv2/dnn.hpp>

struct fk_net {
    cv::dnn::Net net;
};

extern "C" {

fk_status fk_net_open(const char *model_path, const char *config_path, fk_net **out, fk_error *error) {
    return fk::guarded(error, FK_ERR_MODEL_LOAD, [&] {
        auto holder = std::make_unique<fk_net>();
        try {
            holder->net = cv::dnn::readNet(model_path, config_path ? config_path : "");
        } catch (const cv::Exception &e) {
            throw fk::Failure(FK_ERR_MODEL_LOAD, std::string("cannot load ") + model_path + ": " + e.err);
        }
        if (holder->net.empty()) throw fk::Failure(FK_ERR_MODEL_LOAD, std::string("cannot load ") + model_path);
        holder->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        *out = holder.release();
    });
}

void fk_net_free(fk_net *net) { delete net; }

fk_status fk_net_forward(fk_net *net, const float *input, const int32_t *shape, int32_t dims, float *out,
                         size_t out_capacity, size_t *out_count, fk_error *error) {
    return fk::guarded(error, FK_ERR_INFERENCE, [&] {
        std::vector<int> sizes(shape, shape + dims);
        cv::Mat blob(dims, sizes.data(), CV_32F, const_cast<float *>(input));
        net->net.setInput(blob);
        cv::Mat result = net->net.forward();
        size_t n = result.total();
        *out_count = n;
        if (n > out_capacity) throw fk::Failure(FK_ERR_INFERENCE, "output larger than the buffer");
        cv::Mat flat = result.isContinuous() ? result : result.clone();
        std::memcpy(out, flat.ptr<float>(), n * sizeof(float));
    });
}

}  // extern "C"
