from django.urls import path

from . import views

app_name = "courses"

urlpatterns = [
    path("", views.course_list, name="course-list"),
    path("courses/<slug:slug>/", views.course_detail, name="course-detail"),
    path("courses/<slug:slug>/classes/<int:pk>/", views.offering_detail, name="offering-detail"),
    path(
        "courses/<slug:slug>/classes/<int:pk>/calendar.ics",
        views.offering_ics,
        name="offering-ics",
    ),
]
