import FaceKit

/// The API description served at /openapi.json, written by hand to match
/// FaceKitService.routes (a test holds the two together).
enum OpenAPISpec {
    static let json = #"""
    {
      "openapi": "3.0.3",
      "info": {
        "title": "FaceKit",
        "version": "\#(FaceKitVersion.string)",
        "description": "Face detection, embeddings, verification, attribute analysis and face databases with deepface 0.0.103's API: the same field names and response shapes. Images come as base64 (with or without a data: URI prefix) in JSON or a URL-encoded form, or as multipart/form-data file uploads; image paths are read only under the server's --image-root; http(s) image URLs are fetched only when the server runs with --allow-urls, and then only from public addresses unless it also runs with --allow-private-urls. Errors are {\"error\": message}: 400 for a bad request (missing field, unknown model, detector or metric, path outside the root, URL to a refused address), 401 without a valid API key, 404 for an unknown identity, 413 for a body above the limit, 415 for an unsupported Content-Type, 422 for an image that cannot be used (not an image, no face, a URL that answers with an error or too many bytes), 501 when the server has no face store, 502 when a URL cannot be reached, 503 with Retry-After when the queue is full, 504 on timeout (of the request or of a URL fetch)."
      },
      "components": {
        "securitySchemes": {
          "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
          "bearer": {"type": "http", "scheme": "bearer"}
        },
        "schemas": {
          "Error": {
            "type": "object", "required": ["error"],
            "properties": {"error": {"type": "string"}}
          },
          "Image": {
            "type": "string",
            "description": "base64 image, with or without a data:image/...;base64, prefix; or a path under the server's image root when it has one; or an http(s) URL when the server allows URLs"
          },
          "DetectionFields": {
            "type": "object",
            "properties": {
              "detector_backend": {"type": "string", "enum": ["opencv", "ssd", "yunet", "dlib", "mtcnn", "skip"], "description": "default: the server's --detector (yunet)"},
              "enforce_detection": {"type": "boolean", "default": true},
              "align": {"type": "boolean", "default": true},
              "expand_percentage": {"type": "integer", "minimum": 0, "default": 0},
              "max_faces": {"type": "integer", "minimum": 1},
              "alignment": {"type": "string", "enum": ["deepface", "landmarks"], "default": "deepface", "description": "FaceKit only: the crop; landmarks needs yunet or mtcnn"},
              "anti_spoofing": {"type": "boolean", "enum": [false], "description": "not supported; true is refused"}
            }
          },
          "FacialArea": {
            "type": "object", "required": ["x", "y", "w", "h"],
            "properties": {
              "x": {"type": "integer"}, "y": {"type": "integer"}, "w": {"type": "integer"}, "h": {"type": "integer"},
              "left_eye": {"type": "array", "items": {"type": "number"}, "nullable": true},
              "right_eye": {"type": "array", "items": {"type": "number"}, "nullable": true},
              "nose": {"type": "array", "items": {"type": "number"}},
              "mouth_left": {"type": "array", "items": {"type": "number"}},
              "mouth_right": {"type": "array", "items": {"type": "number"}}
            }
          },
          "RepresentRequest": {
            "allOf": [{"$ref": "#/components/schemas/DetectionFields"}, {
              "type": "object", "required": ["img"],
              "properties": {
                "img": {"$ref": "#/components/schemas/Image"},
                "img_path": {"$ref": "#/components/schemas/Image"},
                "model_name": {"type": "string", "enum": ["SFace", "Dlib"], "description": "default: the server's --model (SFace)"}
              }
            }]
          },
          "RepresentResponse": {
            "type": "object", "required": ["results"],
            "properties": {"results": {"type": "array", "items": {
              "type": "object", "required": ["embedding", "facial_area", "face_confidence"],
              "properties": {
                "embedding": {"type": "array", "items": {"type": "number"}},
                "facial_area": {"$ref": "#/components/schemas/FacialArea"},
                "face_confidence": {"type": "number"}
              }
            }}}
          },
          "VerifyRequest": {
            "allOf": [{"$ref": "#/components/schemas/DetectionFields"}, {
              "type": "object", "required": ["img1", "img2"],
              "properties": {
                "img1": {"$ref": "#/components/schemas/Image"},
                "img2": {"$ref": "#/components/schemas/Image"},
                "img1_path": {"$ref": "#/components/schemas/Image"},
                "img2_path": {"$ref": "#/components/schemas/Image"},
                "model_name": {"type": "string", "enum": ["SFace", "Dlib"]},
                "distance_metric": {"type": "string", "enum": ["cosine", "euclidean", "euclidean_l2", "angular"], "default": "cosine"},
                "threshold": {"type": "number", "description": "default: deepface's threshold for the model and metric"}
              }
            }]
          },
          "VerifyResponse": {
            "type": "object",
            "required": ["verified", "distance", "threshold", "confidence", "model", "detector_backend", "similarity_metric", "facial_areas", "time"],
            "properties": {
              "verified": {"type": "boolean"},
              "distance": {"type": "number"},
              "threshold": {"type": "number"},
              "confidence": {"type": "number"},
              "model": {"type": "string"},
              "detector_backend": {"type": "string"},
              "similarity_metric": {"type": "string"},
              "facial_areas": {"type": "object", "properties": {
                "img1": {"$ref": "#/components/schemas/FacialArea"},
                "img2": {"$ref": "#/components/schemas/FacialArea"}
              }},
              "time": {"type": "number"},
              "similarity": {"type": "number", "description": "FaceKit only"}
            }
          },
          "ExtractRequest": {
            "allOf": [{"$ref": "#/components/schemas/DetectionFields"}, {
              "type": "object", "required": ["img"],
              "properties": {"img": {"$ref": "#/components/schemas/Image"}, "img_path": {"$ref": "#/components/schemas/Image"}}
            }]
          },
          "AnalyzeRequest": {
            "allOf": [{"$ref": "#/components/schemas/DetectionFields"}, {
              "type": "object", "required": ["img"],
              "properties": {
                "img": {"$ref": "#/components/schemas/Image"},
                "img_path": {"$ref": "#/components/schemas/Image"},
                "actions": {"description": "a list, or a string such as \"age, gender\"; default all four",
                  "oneOf": [{"type": "array", "items": {"type": "string", "enum": ["age", "gender", "race", "emotion"]}}, {"type": "string"}]},
                "age_model": {"type": "string", "enum": ["deepface", "age_net"], "description": "FaceKit only; default: deepface's when its file is present"},
                "gender_model": {"type": "string", "enum": ["deepface", "gender_net"], "description": "FaceKit only"},
                "race_model": {"type": "string", "enum": ["deepface"], "description": "FaceKit only"},
                "emotion_model": {"type": "string", "enum": ["deepface", "fer"], "description": "FaceKit only"}
              }
            }]
          },
          "AnalyzeResponse": {
            "type": "object", "required": ["results"],
            "properties": {"results": {"type": "array", "description": "one object per face", "items": {
              "type": "object", "required": ["region", "face_confidence", "models"],
              "properties": {
                "region": {"$ref": "#/components/schemas/FacialArea"},
                "face_confidence": {"type": "number"},
                "age": {"type": "integer"},
                "gender": {"type": "object", "additionalProperties": {"type": "number"}}, "dominant_gender": {"type": "string"},
                "race": {"type": "object", "additionalProperties": {"type": "number"}}, "dominant_race": {"type": "string"},
                "emotion": {"type": "object", "additionalProperties": {"type": "number"}}, "dominant_emotion": {"type": "string"},
                "models": {"type": "object", "additionalProperties": {"type": "string"}, "description": "FaceKit only: the model behind each action"},
                "unavailable": {"type": "object", "additionalProperties": {"type": "string"}, "description": "FaceKit only: actions with no model on this server, and why"}
              }
            }}}
          },
          "MatchFields": {
            "type": "object",
            "properties": {
              "model_name": {"type": "string", "enum": ["SFace", "Dlib"]},
              "distance_metric": {"type": "string", "enum": ["cosine", "euclidean", "euclidean_l2", "angular"], "default": "cosine"},
              "threshold": {"type": "number", "description": "default: deepface's threshold for the model and metric"},
              "k": {"type": "integer", "minimum": 1, "description": "at most this many matches per face; default: all"},
              "similarity_search": {"type": "boolean", "default": false, "description": "true: the nearest faces whatever their distance"}
            }
          },
          "FindRequest": {
            "allOf": [{"$ref": "#/components/schemas/DetectionFields"}, {"$ref": "#/components/schemas/MatchFields"}, {
              "type": "object", "required": ["img", "db_path"],
              "properties": {
                "img": {"$ref": "#/components/schemas/Image"},
                "db_path": {"type": "string", "description": "a folder of images under the server's image root; its index is kept in the folder"},
                "refresh_database": {"type": "boolean", "default": true}
              }
            }]
          },
          "FindResponse": {
            "type": "object", "required": ["results"],
            "properties": {"results": {"type": "array", "description": "one list per face of img", "items": {"type": "array", "items": {
              "type": "object",
              "properties": {
                "identity": {"type": "string"}, "hash": {"type": "string"},
                "target_x": {"type": "integer"}, "target_y": {"type": "integer"}, "target_w": {"type": "integer"}, "target_h": {"type": "integer"},
                "source_x": {"type": "integer"}, "source_y": {"type": "integer"}, "source_w": {"type": "integer"}, "source_h": {"type": "integer"},
                "threshold": {"type": "number"}, "distance": {"type": "number"}, "confidence": {"type": "number"}
              }
            }}}}
          },
          "RegisterRequest": {
            "allOf": [{"$ref": "#/components/schemas/DetectionFields"}, {
              "type": "object", "required": ["img"],
              "properties": {
                "img": {"$ref": "#/components/schemas/Image"},
                "img_name": {"type": "string", "description": "the identity; default: the image path when it names a .jpg/.jpeg/.png, else a new UUID"},
                "model_name": {"type": "string", "enum": ["SFace", "Dlib"]},
                "faces": {"type": "string", "enum": ["all", "largest"], "default": "all", "description": "FaceKit only: register every face (deepface) or only the largest"}
              }
            }]
          },
          "RegisterResponse": {
            "type": "object", "required": ["inserted"],
            "properties": {
              "inserted": {"type": "integer"},
              "img_name": {"type": "string", "description": "FaceKit only"},
              "ids": {"type": "array", "items": {"type": "integer"}, "description": "FaceKit only"},
              "facial_areas": {"type": "array", "items": {"$ref": "#/components/schemas/FacialArea"}, "description": "FaceKit only"}
            }
          },
          "SearchRequest": {
            "allOf": [{"$ref": "#/components/schemas/DetectionFields"}, {"$ref": "#/components/schemas/MatchFields"}, {
              "type": "object", "required": ["img"],
              "properties": {
                "img": {"$ref": "#/components/schemas/Image"},
                "search_method": {"type": "string", "enum": ["exact", "ann"], "default": "exact"}
              }
            }]
          },
          "SearchResponse": {
            "type": "object", "required": ["results"],
            "properties": {"results": {"type": "array", "description": "one list per face of img", "items": {"type": "array", "items": {
              "type": "object",
              "properties": {
                "id": {"type": "integer"}, "img_name": {"type": "string"}, "model_name": {"type": "string"},
                "detector_backend": {"type": "string"}, "aligned": {"type": "boolean"}, "l2_normalized": {"type": "boolean"},
                "search_method": {"type": "string"},
                "target_x": {"type": "integer"}, "target_y": {"type": "integer"}, "target_w": {"type": "integer"}, "target_h": {"type": "integer"},
                "threshold": {"type": "number"}, "distance_metric": {"type": "string"}, "distance": {"type": "number"}, "confidence": {"type": "number"}
              }
            }}}}
          },
          "ExtractResponse": {
            "type": "object", "required": ["results"],
            "properties": {"results": {"type": "array", "items": {
              "type": "object", "required": ["facial_area", "confidence"],
              "properties": {"facial_area": {"$ref": "#/components/schemas/FacialArea"}, "confidence": {"type": "number"}}
            }}}
          }
        },
        "responses": {
          "BadRequest": {"description": "bad request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "Unauthorized": {"description": "missing or invalid API key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "TooLarge": {"description": "body above the limit", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "UnsupportedMediaType": {"description": "not JSON, multipart or a URL-encoded form", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "Unprocessable": {"description": "the image cannot be used: not an image, or no face", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "Busy": {"description": "queue full; retry after Retry-After seconds", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "NoStore": {"description": "the server runs without a face store", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "Timeout": {"description": "did not finish in time", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        }
      },
      "security": [{"apiKey": []}, {"bearer": []}],
      "paths": {
        "/": {"get": {"summary": "The web page: drop two photos to verify, or one to analyse it and search the face store", "security": [], "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}}}},
        "/health": {"get": {"summary": "Liveness and engine queue", "security": [], "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object", "properties": {
          "status": {"type": "string"}, "version": {"type": "string"},
          "engine": {"type": "object", "properties": {"workers": {"type": "integer"}, "running": {"type": "integer"}, "queued": {"type": "integer"}, "queue_depth": {"type": "integer"}}}
        }}}}}}}},
        "/models": {"get": {"summary": "Models, detectors, metrics, thresholds and which files are present", "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}, "401": {"$ref": "#/components/responses/Unauthorized"}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition format", "content": {"text/plain": {}}}, "401": {"$ref": "#/components/responses/Unauthorized"}}}},
        "/openapi.json": {"get": {"summary": "This description", "security": [], "responses": {"200": {"description": "OpenAPI 3", "content": {"application/json": {}}}}}},
        "/represent": {"post": {
          "summary": "deepface's represent: an embedding per face",
          "requestBody": {"required": true, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/RepresentRequest"}},
            "multipart/form-data": {"schema": {"type": "object", "properties": {"img": {"type": "string", "format": "binary"}, "model_name": {"type": "string"}, "detector_backend": {"type": "string"}}}},
            "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/RepresentRequest"}}
          }},
          "responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RepresentResponse"}}}},
            "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
            "413": {"$ref": "#/components/responses/TooLarge"}, "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
            "422": {"$ref": "#/components/responses/Unprocessable"}, "503": {"$ref": "#/components/responses/Busy"}, "504": {"$ref": "#/components/responses/Timeout"}
          }
        }},
        "/verify": {"post": {
          "summary": "deepface's verify: are two images the same person",
          "requestBody": {"required": true, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/VerifyRequest"}},
            "multipart/form-data": {"schema": {"type": "object", "properties": {"img1": {"type": "string", "format": "binary"}, "img2": {"type": "string", "format": "binary"}, "model_name": {"type": "string"}, "detector_backend": {"type": "string"}, "distance_metric": {"type": "string"}}}},
            "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/VerifyRequest"}}
          }},
          "responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VerifyResponse"}}}},
            "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
            "413": {"$ref": "#/components/responses/TooLarge"}, "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
            "422": {"$ref": "#/components/responses/Unprocessable"}, "503": {"$ref": "#/components/responses/Busy"}, "504": {"$ref": "#/components/responses/Timeout"}
          }
        }},
        "/analyze": {"post": {
          "summary": "deepface's analyze: age, gender, race and emotion of each face",
          "requestBody": {"required": true, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/AnalyzeRequest"}},
            "multipart/form-data": {"schema": {"$ref": "#/components/schemas/AnalyzeRequest"}},
            "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/AnalyzeRequest"}}
          }},
          "responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AnalyzeResponse"}}}},
            "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
            "413": {"$ref": "#/components/responses/TooLarge"}, "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
            "422": {"$ref": "#/components/responses/Unprocessable"}, "503": {"$ref": "#/components/responses/Busy"}, "504": {"$ref": "#/components/responses/Timeout"}
          }
        }},
        "/find": {"post": {
          "summary": "deepface's find: each face of img looked up in a folder of images under the image root",
          "requestBody": {"required": true, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/FindRequest"}},
            "multipart/form-data": {"schema": {"$ref": "#/components/schemas/FindRequest"}},
            "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/FindRequest"}}
          }},
          "responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FindResponse"}}}},
            "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
            "413": {"$ref": "#/components/responses/TooLarge"}, "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
            "422": {"$ref": "#/components/responses/Unprocessable"}, "503": {"$ref": "#/components/responses/Busy"}, "504": {"$ref": "#/components/responses/Timeout"}
          }
        }},
        "/register": {"post": {
          "summary": "deepface's register: store the faces of img under img_name in the face store",
          "requestBody": {"required": true, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/RegisterRequest"}},
            "multipart/form-data": {"schema": {"$ref": "#/components/schemas/RegisterRequest"}},
            "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/RegisterRequest"}}
          }},
          "responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RegisterResponse"}}}},
            "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
            "413": {"$ref": "#/components/responses/TooLarge"}, "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
            "422": {"$ref": "#/components/responses/Unprocessable"}, "501": {"$ref": "#/components/responses/NoStore"}, "503": {"$ref": "#/components/responses/Busy"}, "504": {"$ref": "#/components/responses/Timeout"}
          }
        }},
        "/search": {"post": {
          "summary": "deepface's search (exact): each face of img against the face store",
          "requestBody": {"required": true, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/SearchRequest"}},
            "multipart/form-data": {"schema": {"$ref": "#/components/schemas/SearchRequest"}},
            "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/SearchRequest"}}
          }},
          "responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SearchResponse"}}}},
            "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
            "413": {"$ref": "#/components/responses/TooLarge"}, "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
            "422": {"$ref": "#/components/responses/Unprocessable"}, "501": {"$ref": "#/components/responses/NoStore"}, "503": {"$ref": "#/components/responses/Busy"}, "504": {"$ref": "#/components/responses/Timeout"}
          }
        }},
        "/identities": {"get": {"summary": "Identities in the face store, with their face counts and models", "responses": {
          "200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object", "properties": {"identities": {"type": "array", "items": {
            "type": "object", "properties": {"identity": {"type": "string"}, "faces": {"type": "integer"}, "models": {"type": "array", "items": {"type": "string"}}}
          }}}}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"}, "501": {"$ref": "#/components/responses/NoStore"}
        }}},
        "/identities/{name}": {"delete": {"summary": "Remove every face of an identity, under every model", "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {
          "200": {"description": "removed", "content": {"application/json": {"schema": {"type": "object", "properties": {"identity": {"type": "string"}, "deleted": {"type": "integer"}}}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"}, "404": {"description": "no such identity", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "501": {"$ref": "#/components/responses/NoStore"}
        }}},
        "/extract": {"post": {
          "summary": "deepface's extract_faces: each face's box, landmarks and confidence",
          "requestBody": {"required": true, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ExtractRequest"}},
            "multipart/form-data": {"schema": {"type": "object", "properties": {"img": {"type": "string", "format": "binary"}, "detector_backend": {"type": "string"}}}},
            "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/ExtractRequest"}}
          }},
          "responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExtractResponse"}}}},
            "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
            "413": {"$ref": "#/components/responses/TooLarge"}, "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
            "422": {"$ref": "#/components/responses/Unprocessable"}, "503": {"$ref": "#/components/responses/Busy"}, "504": {"$ref": "#/components/responses/Timeout"}
          }
        }}
      }
    }
    """#
}
