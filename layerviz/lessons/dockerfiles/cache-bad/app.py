from flask import Flask, jsonify

VERSION = "1.0"  # the line the 1.1 build changes

app = Flask(__name__)


@app.get("/")
def index():
    return jsonify(service="api", version=VERSION)


@app.get("/health")
def health():
    return "ok"
