// dlib's 29-layer ResNet face descriptor. Kept alone in this file: its
// template instantiation takes about a minute and 1.2 GB to compile, so it
// should rarely be rebuilt.
#include "internal.hpp"

#include <dlib/dnn.h>

namespace fk {
namespace {
using namespace dlib;

// The architecture must match dlib_face_recognition_resnet_model_v1.dat
// layer for layer, or deserialisation fails.
template <int K, template <typename> class Norm, int S, typename In>
using conv_pair = Norm<con<K, 3, 3, 1, 1, relu<Norm<con<K, 3, 3, S, S, In>>>>>;

template <template <int, template <typename> class, int, typename> class Blk, int K,
          template <typename> class Norm, typename In>
using res_same = add_prev1<Blk<K, Norm, 1, tag1<In>>>;

template <template <int, template <typename> class, int, typename> class Blk, int K,
          template <typename> class Norm, typename In>
using res_down = add_prev2<avg_pool<2, 2, 2, 2, skip1<tag2<Blk<K, Norm, 2, tag1<In>>>>>>;

template <int K, typename In> using unit = relu<res_same<conv_pair, K, affine, In>>;
template <int K, typename In> using unit_down = relu<res_down<conv_pair, K, affine, In>>;

template <typename In> using stage0 = unit_down<256, In>;
template <typename In> using stage1 = unit<256, unit<256, unit_down<256, In>>>;
template <typename In> using stage2 = unit<128, unit<128, unit_down<128, In>>>;
template <typename In> using stage3 = unit<64, unit<64, unit<64, unit_down<64, In>>>>;
template <typename In> using stage4 = unit<32, unit<32, unit<32, In>>>;

using face_net = loss_metric<fc_no_bias<128, avg_pool_everything<
    stage0<stage1<stage2<stage3<stage4<
    max_pool<3, 3, 2, 2, relu<affine<con<32, 7, 7, 2, 2,
    input_rgb_image_sized<150>>>>>>>>>>>>>;

}  // namespace
}  // namespace fk

struct fk_dlib_resnet {
    fk::face_net net;
};

extern "C" {

fk_status fk_dlib_resnet_open(const char *path, fk_dlib_resnet **out, fk_error *error) {
    return fk::guarded(error, FK_ERR_MODEL_LOAD, [&] {
        auto holder = std::make_unique<fk_dlib_resnet>();
        try {
            dlib::deserialize(path) >> holder->net;
        } catch (const std::exception &e) {
            throw fk::Failure(FK_ERR_MODEL_LOAD, std::string("cannot load dlib ResNet ") + path + ": " + e.what());
        }
        *out = holder.release();
    });
}

void fk_dlib_resnet_free(fk_dlib_resnet *net) { delete net; }

fk_status fk_dlib_resnet_compute(fk_dlib_resnet *net, const uint8_t *chips, int32_t count, float *out,
                                 fk_error *error) {
    return fk::guarded(error, FK_ERR_INFERENCE, [&] {
        std::vector<dlib::matrix<dlib::rgb_pixel>> batch(count);
        for (int i = 0; i < count; ++i) {
            batch[i].set_size(150, 150);
            const uint8_t *p = chips + size_t(i) * 150 * 150 * 3;
            for (long r = 0; r < 150; ++r)
                for (long c = 0; c < 150; ++c, p += 3) batch[i](r, c) = dlib::rgb_pixel(p[0], p[1], p[2]);
        }
        std::vector<dlib::matrix<float, 0, 1>> descriptors = net->net(batch, 16);
        for (int i = 0; i < count; ++i)
            for (int k = 0; k < 128; ++k) out[size_t(i) * 128 + k] = descriptors[i](k);
    });
}

}  // extern "C"
