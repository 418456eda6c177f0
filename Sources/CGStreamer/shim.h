#ifndef SIGHTLINE_CGSTREAMER_SHIM_H
#define SIGHTLINE_CGSTREAMER_SHIM_H
// GStreamer core, app (appsink/appsrc) and video. The target takes its flags from
// pkg-config "gstreamer-app-1.0" (core and base come with it); gstvideo is linked by the
// module map. What Swift cannot import (variadic calls, casting and field macros) is
// wrapped here as static inline functions prefixed CGStreamer_.
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>

// MARK: casts (GObject's checked-cast macros do not import)

static inline GstElement *CGStreamer_element(gpointer p) { return (GstElement *)p; }
static inline GstBin *CGStreamer_bin(GstElement *e) { return GST_BIN(e); }
static inline GstAppSink *CGStreamer_appSink(GstElement *e) { return GST_APP_SINK(e); }
static inline GstAppSrc *CGStreamer_appSrc(GstElement *e) { return GST_APP_SRC(e); }
static inline GstObject *CGStreamer_object(gpointer p) { return GST_OBJECT(p); }

// MARK: properties and signals (g_object_set and g_signal_connect are variadic or macros)

static inline gboolean CGStreamer_hasProperty(gpointer object, const char *name) {
    return g_object_class_find_property(G_OBJECT_GET_CLASS(object), name) != NULL;
}
static inline void CGStreamer_setBool(gpointer object, const char *name, gboolean value) {
    g_object_set(object, name, value, NULL);
}
static inline void CGStreamer_setInt(gpointer object, const char *name, gint value) {
    g_object_set(object, name, value, NULL);
}
static inline void CGStreamer_setUInt(gpointer object, const char *name, guint value) {
    g_object_set(object, name, value, NULL);
}
static inline void CGStreamer_setUInt64(gpointer object, const char *name, guint64 value) {
    g_object_set(object, name, value, NULL);
}
static inline void CGStreamer_setString(gpointer object, const char *name, const char *value) {
    g_object_set(object, name, value, NULL);
}
static inline void CGStreamer_setCaps(gpointer object, const char *name, GstCaps *caps) {
    g_object_set(object, name, caps, NULL);
}
/// Sets an enum or flags property from its nick ("tcp", "udp+tcp"), as gst-launch would.
static inline void CGStreamer_setFromString(gpointer object, const char *name, const char *value) {
    gst_util_set_object_arg(G_OBJECT(object), name, value);
}
static inline gulong CGStreamer_connect(gpointer instance, const char *signal, GCallback handler, gpointer data) {
    return g_signal_connect_data(instance, signal, handler, data, NULL, (GConnectFlags)0);
}
static inline const char *CGStreamer_typeName(gpointer object) {
    return G_OBJECT_TYPE_NAME(object);
}

// Signal handlers of the shapes Sightline connects, as GCallback.
typedef void (*CGStreamer_ElementElementHandler)(GstElement *, GstElement *, gpointer);
typedef void (*CGStreamer_BinBinElementHandler)(GstBin *, GstBin *, GstElement *, gpointer);
static inline GCallback CGStreamer_callback2(CGStreamer_ElementElementHandler f) { return (GCallback)f; }
static inline GCallback CGStreamer_callback3(CGStreamer_BinBinElementHandler f) { return (GCallback)f; }

// MARK: messages, buffers, events

static inline GstMessageType CGStreamer_messageType(GstMessage *m) { return GST_MESSAGE_TYPE(m); }
static inline GstObject *CGStreamer_messageSource(GstMessage *m) { return GST_MESSAGE_SRC(m); }
static inline const char *CGStreamer_objectName(GstObject *o) { return o ? GST_OBJECT_NAME(o) : NULL; }
static inline GstClockTime CGStreamer_bufferPTS(GstBuffer *b) { return GST_BUFFER_PTS(b); }
static inline gboolean CGStreamer_bufferIsDelta(GstBuffer *b) {
    return GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
}
static inline GstClockTime CGStreamer_clockTimeNone(void) { return GST_CLOCK_TIME_NONE; }
static inline GstBuffer *CGStreamer_probeBuffer(GstPadProbeInfo *info) { return GST_PAD_PROBE_INFO_BUFFER(info); }
static inline GstEvent *CGStreamer_probeEvent(GstPadProbeInfo *info) { return GST_PAD_PROBE_INFO_EVENT(info); }
static inline GstQuery *CGStreamer_probeQuery(GstPadProbeInfo *info) { return GST_PAD_PROBE_INFO_QUERY(info); }
static inline GstQueryType CGStreamer_queryType(GstQuery *q) { return GST_QUERY_TYPE(q); }
static inline GstEventType CGStreamer_eventType(GstEvent *e) { return GST_EVENT_TYPE(e); }
static inline void CGStreamer_errorFree(GError *e) { if (e) g_error_free(e); }
static inline void CGStreamer_unrefMessage(GstMessage *m) { gst_message_unref(m); }
static inline void CGStreamer_unrefSample(GstSample *s) { gst_sample_unref(s); }
static inline void CGStreamer_unrefCaps(GstCaps *c) { gst_caps_unref(c); }
static inline void CGStreamer_unrefBuffer(GstBuffer *b) { gst_buffer_unref(b); }

// MARK: video frames

static inline guint8 *CGStreamer_framePlane(GstVideoFrame *f, guint plane) { return (guint8 *)GST_VIDEO_FRAME_PLANE_DATA(f, plane); }
static inline gint CGStreamer_frameStride(GstVideoFrame *f, guint plane) { return GST_VIDEO_FRAME_PLANE_STRIDE(f, plane); }
static inline gint CGStreamer_infoWidth(const GstVideoInfo *i) { return GST_VIDEO_INFO_WIDTH(i); }
static inline gint CGStreamer_infoHeight(const GstVideoInfo *i) { return GST_VIDEO_INFO_HEIGHT(i); }
static inline gint CGStreamer_infoParN(const GstVideoInfo *i) { return GST_VIDEO_INFO_PAR_N(i); }
static inline gint CGStreamer_infoParD(const GstVideoInfo *i) { return GST_VIDEO_INFO_PAR_D(i); }
static inline gint CGStreamer_infoStride(const GstVideoInfo *i, guint plane) { return GST_VIDEO_INFO_PLANE_STRIDE(i, plane); }
static inline gsize CGStreamer_infoSize(const GstVideoInfo *i) { return GST_VIDEO_INFO_SIZE(i); }

#endif
