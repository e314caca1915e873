"""The HTTP face of ocr_ray: a FastAPI app on Ray Serve, plus a small web page."""
