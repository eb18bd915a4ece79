from django.http import HttpResponse
from django.urls import path


def home(request):
    return HttpResponse("Welcome to the blog")


urlpatterns = [path("", home)]
