/* api-images.c: the image store's routes: GET /v1/images, PUT
 * /v1/images/NAME[?sha256=HEX] (the body streamed to disk as it comes, see
 * api_admit()), DELETE /v1/images/NAME. */
#include "api-internal.h"

void api_images_list(struct api_call *call) {
        api_response_json(call->resp, 200, vms_images_to_json(call->api->vms));
}

struct api_upload *api_image_upload_begin(struct api_call *call) {
        struct error err = { 0 };
        struct image_upload *image;
        struct api_upload *u;

        if (vms_image_upload_begin(call->api->vms, call->cap[0], call->req->content_length,
                                   api_query(call, "sha256"), &image, &err) < 0) {
                api_response_fail(call->resp, &err);
                return NULL;
        }
        u = api_upload_new(image);
        if (!u) {
                vms_image_upload_free(image);
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "out of memory");
        }
        return u;
}

void api_image_put(struct api_call *call) {
        struct image_upload *image = api_upload_image(call->req->upload);
        struct error err = { 0 };
        bool created;
        json_t *j;

        if (!image) {
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "the upload was not started");
                return;
        }
        if (vms_image_upload_finish(call->api->vms, image, &j, &created, &err) < 0) {
                api_response_fail(call->resp, &err);
                return;
        }
        api_response_json(call->resp, created ? 201 : 200, j);
}

void api_image_delete(struct api_call *call) {
        struct error err = { 0 };

        if (vms_image_delete(call->api->vms, call->cap[0], &err) < 0) {
                api_response_fail(call->resp, &err);
                return;
        }
        api_response_empty(call->resp);
}
