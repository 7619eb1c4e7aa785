// Compiled by Bazel at link time (cc_library.linkstamp) after its build-info
// header, which defines BUILD_EMBED_LABEL: the --embed_label value when
// --stamp is given, a fixed placeholder otherwise.
#ifdef BUILD_EMBED_LABEL
extern const char kSluiceBuildLabel[] = BUILD_EMBED_LABEL;
#else
extern const char kSluiceBuildLabel[] = "";
#endif
