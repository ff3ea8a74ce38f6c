// Where the open face models are found.
#include <gtest/gtest.h>

#include "ned/core/error.hpp"
#include "ned/facenet/open_models.hpp"
#include "ned/facenet/ssd_face_detector.hpp"

using namespace ned::facenet;

TEST(FacenetOpenModels, OpenModelsDirFindsTheShippedModels) {
    const auto d = open_models_dir();
    EXPECT_TRUE(std::filesystem::exists(d / "ssd_mobilenetv1_model-weights_manifest.json")) << d;
    set_open_models_dir("/nonexistent/ned-open");  // what main passes from $NED_OPEN_MODELS
    EXPECT_THROW(open_models_dir(), ned::ModelError);
    set_open_models_dir(d);
    EXPECT_EQ(open_models_dir(), d);
    set_open_models_dir({});
    EXPECT_EQ(open_models_dir(), d);
    EXPECT_THROW(SsdFaceDetector("/nonexistent/ned-open"), ned::ModelError);
}
