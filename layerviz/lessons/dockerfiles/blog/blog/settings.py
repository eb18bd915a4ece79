SECRET_KEY = "lesson-blog-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.staticfiles", "blog"]
ROOT_URLCONF = "blog.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "/tmp/blog.sqlite3"}}
STATIC_URL = "static/"
