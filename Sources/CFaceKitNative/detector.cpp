// The C entry points for every detector; the backends live in detect_*.cpp.
#include "internal.hpp"

#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgproc.hpp>

struct fk_detector {
    std::unique_ptr<fk::Detector> impl;
};

extern "C" {

fk_status fk_detector_open(fk_detector_kind kind, const char *const *paths, int32_t path_count, fk_detector **out,
                           fk_error *error) {
    return fk::guarded(error, FK_ERR_MODEL_LOAD, [&] {
        std::vector<std::string> files;
        for (int i = 0; i < path_count; ++i) files.emplace_back(paths[i]);
        auto holder = std::make_unique<fk_detector>();
        switch (kind) {
        case FK_DETECTOR_OPENCV: holder->impl = fk::make_haar_detector(files); break;
        case FK_DETECTOR_SSD: holder->impl = fk::make_ssd_detector(files); break;
        case FK_DETECTOR_YUNET: holder->impl = fk::make_yunet_detector(files); break;
        case FK_DETECTOR_DLIB: holder->impl = fk::make_dlib_detector(files); break;
        case FK_DETECTOR_MTCNN: holder->impl = fk::make_mtcnn_detector(files); break;
        default: throw fk::Failure(FK_ERR_INVALID_ARGUMENT, "unknown detector kind");
        }
        *out = holder.release();
    });
}

void fk_detector_free(fk_detector *detector) { delete detector; }

fk_status fk_detector_detect(fk_detector *detector, const fk_image *image, float score_threshold, fk_face *faces,
                             int32_t capacity, int32_t *count, fk_error *error) {
    return fk::guarded(error, FK_ERR_INFERENCE, [&] {
        std::vector<fk::Face> found;
        if (!image->virtual_pad || !detector->impl->detect_padded(image->mat, image->pad_y, image->pad_x, score_threshold, found))
            found = detector->impl->detect(fk::whole_pixels(image), score_threshold);
        *count = int32_t(found.size());
        for (int i = 0; i < std::min<int>(capacity, int(found.size())); ++i) {
            const fk::Face &f = found[i];
            fk_face &o = faces[i];
            o.x = f.x; o.y = f.y; o.w = f.w; o.h = f.h;
            o.confidence = f.confidence;
            o.landmark_mask = f.mask;
            std::memcpy(o.landmarks, f.lm, sizeof(o.landmarks));
        }
    });
}

fk_status fk_detector_find_eyes(fk_detector *detector, const fk_image *image, int32_t x, int32_t y, int32_t w,
                                int32_t h, int32_t *found, float eyes[4], fk_error *error) {
    return fk::guarded(error, FK_ERR_INFERENCE, [&] {
        *found = 0;
        const cv::Mat &pixels = fk::whole_pixels(image);
        cv::Rect box = cv::Rect(x, y, w, h) & cv::Rect(0, 0, pixels.cols, pixels.rows);
        if (box.empty()) return;
        cv::Point2f left, right;
        if (detector->impl->find_eyes(pixels(box), left, right)) {
            *found = 1;
            eyes[0] = left.x; eyes[1] = left.y; eyes[2] = right.x; eyes[3] = right.y;
        }
    });
}

}  // extern "C"
