// deepface's "ssd" backend: OpenCV's res10 SSD (Caffe) at 300x300, with
// deepface's integer rounding of the box corners.
#include "internal.hpp"

#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

namespace fk {
namespace {

class SsdDetector final : public Detector {
    cv::dnn::Net net_;

public:
    explicit SsdDetector(const std::vector<std::string> &paths) {
        if (paths.size() < 2) throw Failure(FK_ERR_INVALID_ARGUMENT, "ssd needs deploy.prototxt and the caffemodel");
        try {
            net_ = cv::dnn::readNetFromCaffe(paths[0], paths[1]);
        } catch (const cv::Exception &e) {
            throw Failure(FK_ERR_MODEL_LOAD, "cannot load SSD " + paths[1] + ": " + e.what());
        }
        if (net_.empty()) throw Failure(FK_ERR_MODEL_LOAD, "cannot load SSD " + paths[1]);
    }

    std::vector<Face> detect(const cv::Mat &bgr, float threshold) override {
        if (threshold < 0) threshold = 0.90f;
        cv::Mat small;
        cv::resize(bgr, small, cv::Size(300, 300));
        double ax = bgr.cols / 300.0, ay = bgr.rows / 300.0;
        // deepface calls blobFromImage with its defaults: no scaling, no mean.
        net_.setInput(cv::dnn::blobFromImage(small));
        cv::Mat out = net_.forward();
        cv::Mat rows(out.size[2], out.size[3], CV_32F, out.ptr<float>());
        std::vector<Face> faces;
        for (int i = 0; i < rows.rows; ++i) {
            const float *r = rows.ptr<float>(i);
            if (r[1] != 1.0f || r[2] < threshold) continue;
            // int32 of (v * 300), then int32 of that times the aspect ratio.
            auto corner = [](float v, double ratio) { return float(int32_t(double(int32_t(v * 300.0f)) * ratio)); };
            float l = corner(r[3], ax), t = corner(r[4], ay), rr = corner(r[5], ax), b = corner(r[6], ay);
            Face f;
            f.x = l; f.y = t; f.w = rr - l; f.h = b - t;
            f.confidence = r[2];
            faces.push_back(f);
        }
        return faces;
    }
};

}  // namespace

std::unique_ptr<Detector> make_ssd_detector(const std::vector<std::string> &paths) {
    return std::make_unique<SsdDetector>(paths);
}

}  // namespace fk
