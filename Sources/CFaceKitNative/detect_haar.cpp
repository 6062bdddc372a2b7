// deepface's "opencv" backend: Haar frontal face, then the Haar eye cascade on
// each face to find the eyes that alignment needs.
#include "internal.hpp"

#include <algorithm>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

namespace fk {
namespace {

class HaarDetector final : public Detector {
    cv::CascadeClassifier face_, eye_;

public:
    explicit HaarDetector(const std::vector<std::string> &paths) {
        if (paths.size() < 2) throw Failure(FK_ERR_INVALID_ARGUMENT, "opencv detector needs face and eye cascades");
        if (!face_.load(paths[0])) throw Failure(FK_ERR_MODEL_LOAD, "cannot load Haar cascade " + paths[0]);
        if (!eye_.load(paths[1])) throw Failure(FK_ERR_MODEL_LOAD, "cannot load Haar cascade " + paths[1]);
    }

    std::vector<Face> detect(const cv::Mat &bgr, float) override {
        std::vector<cv::Rect> boxes;
        std::vector<int> levels;
        std::vector<double> weights;
        face_.detectMultiScale(bgr, boxes, levels, weights, 1.1, 10, 0, cv::Size(), cv::Size(), true);
        std::vector<Face> faces;
        for (size_t i = 0; i < boxes.size(); ++i) {
            const cv::Rect &b = boxes[i];
            Face f;
            f.x = float(b.x); f.y = float(b.y); f.w = float(b.width); f.h = float(b.height);
            f.confidence = float((100.0 - weights[i]) / 100.0);
            cv::Point2f le, re;
            if (find_eyes(bgr(b & cv::Rect(0, 0, bgr.cols, bgr.rows)), le, re)) {
                f.set_landmark(FK_LM_LEFT_EYE, float(int(b.x + le.x)), float(int(b.y + le.y)));
                f.set_landmark(FK_LM_RIGHT_EYE, float(int(b.x + re.x)), float(int(b.y + re.y)));
            }
            faces.push_back(f);
        }
        return faces;
    }

    // The two largest eye detections; the one further left in the image is
    // the person's right eye. Centres truncate to ints as deepface's do.
    bool find_eyes(const cv::Mat &face, cv::Point2f &left, cv::Point2f &right) override {
        if (face.empty()) return false;
        cv::Mat gray;
        cv::cvtColor(face, gray, cv::COLOR_BGR2GRAY);
        std::vector<cv::Rect> eyes;
        eye_.detectMultiScale(gray, eyes, 1.1, 10);
        if (eyes.size() < 2) return false;
        std::stable_sort(eyes.begin(), eyes.end(),
                         [](const cv::Rect &a, const cv::Rect &b) { return a.area() > b.area(); });
        cv::Rect e1 = eyes[0], e2 = eyes[1];
        cv::Rect r = e1.x < e2.x ? e1 : e2, l = e1.x < e2.x ? e2 : e1;
        left = cv::Point2f(float(int(l.x + l.width / 2.0)), float(int(l.y + l.height / 2.0)));
        right = cv::Point2f(float(int(r.x + r.width / 2.0)), float(int(r.y + r.height / 2.0)));
        return true;
    }
};

}  // namespace

std::unique_ptr<Detector> make_haar_detector(const std::vector<std::string> &paths) {
    return std::make_unique<HaarDetector>(paths);
}

}  // namespace fk
