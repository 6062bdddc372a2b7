// deepface's "dlib" backend: dlib's HOG frontal face detector run with one
// upsampling, then the 5-point shape predictor for the eyes.
#include "internal.hpp"

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <dlib/opencv/cv_image.h>

namespace fk {
namespace {

class DlibDetector final : public Detector {
    dlib::frontal_face_detector detector_ = dlib::get_frontal_face_detector();
    dlib::shape_predictor predictor_;

public:
    explicit DlibDetector(const std::vector<std::string> &paths) {
        if (paths.empty()) throw Failure(FK_ERR_INVALID_ARGUMENT, "dlib detector needs the 5-point shape predictor");
        try {
            dlib::deserialize(paths[0]) >> predictor_;
        } catch (const std::exception &e) {
            throw Failure(FK_ERR_MODEL_LOAD, "cannot load dlib shape predictor " + paths[0] + ": " + e.what());
        }
        if (predictor_.num_parts() != 5)
            throw Failure(FK_ERR_MODEL_LOAD, paths[0] + " is not a 5-point shape predictor");
    }

    std::vector<Face> detect(const cv::Mat &bgr, float threshold) override {
        // deepface hands dlib the BGR array as if it were RGB. HOG takes the
        // strongest channel gradient and the predictor averages channels, so
        // the order does not matter, but the bytes are kept as deepface's.
        dlib::cv_image<dlib::rgb_pixel> view(bgr);
        dlib::matrix<dlib::rgb_pixel> up;
        dlib::assign_image(up, view);
        dlib::pyramid_up(up);
        dlib::pyramid_down<2> pyr;
        std::vector<dlib::rect_detection> dets;
        detector_(up, dets, threshold < 0 ? 0.0 : threshold);
        std::vector<Face> faces;
        for (const auto &d : dets) {
            dlib::rectangle rect = pyr.rect_down(d.rect, 1);
            long top = rect.top(), bottom = rect.bottom(), left = rect.left(), right = rect.right();
            int y = int(std::max(0L, top)), x = int(std::max(0L, left));
            int h = int(std::min<long>(bottom, bgr.rows) - y), w = int(std::min<long>(right, bgr.cols) - x);
            dlib::full_object_detection shape = predictor_(view, rect);
            auto mid = [](long a, long b) { return float((a + b) / 2 - (((a + b) % 2 != 0 && (a + b) < 0) ? 1 : 0)); };
            Face f;
            f.x = float(x); f.y = float(y); f.w = float(w); f.h = float(h);
            f.confidence = float(std::min(std::max(0.0, d.detection_confidence), 1.0));
            f.set_landmark(FK_LM_RIGHT_EYE, mid(shape.part(2).x(), shape.part(3).x()), mid(shape.part(2).y(), shape.part(3).y()));
            f.set_landmark(FK_LM_LEFT_EYE, mid(shape.part(0).x(), shape.part(1).x()), mid(shape.part(0).y(), shape.part(1).y()));
            // Part 4 is below the nose; deepface keeps only the eyes.
            f.set_landmark(FK_LM_NOSE, float(shape.part(4).x()), float(shape.part(4).y()));
            faces.push_back(f);
        }
        return faces;
    }
};

}  // namespace

std::unique_ptr<Detector> make_dlib_detector(const std::vector<std::string> &paths) {
    return std::make_unique<DlibDetector>(paths);
}

}  // namespace fk
