{
  "targets": [
    {
      "target_name": "hotpath",
      "sources": [
        "native/core/anomaly.cc",
        "native/core/covisit.cc",
        "native/core/crc32c.cc",
        "native/core/drift.cc",
        "native/core/embedding.cc",
        "native/core/event_rows.cc",
        "native/core/feature_store.cc",
        "native/core/hll.cc",
        "native/core/kernels.cc",
        "native/core/learner.cc",
        "native/core/likelihood.cc",
        "native/core/model.cc",
        "native/core/region.cc",
        "native/core/row_layout.cc",
        "native/core/shard_index.cc",
        "native/core/snapshot.cc",
        "native/core/wal_record.cc",
        "native/core/windows.cc",
        "native/cuda/cuda_none.cc",
        "native/binding/addon.cc",
        "native/binding/covisit_wrap.cc",
        "native/binding/detector_wrap.cc",
        "native/binding/durability_wrap.cc",
        "native/binding/embedding_wrap.cc",
        "native/binding/gather_wrap.cc",
        "native/binding/ids.cc",
        "native/binding/learner_wrap.cc",
        "native/binding/model_wrap.cc",
        "native/binding/spec_args.cc",
        "native/binding/store_wrap.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-fno-trapping-math", "-fno-exceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-fno-math-errno", "-fno-trapping-math"]
      }
    }
  ]
}
