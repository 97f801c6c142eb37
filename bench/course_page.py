"""The course page: SQL queries and render time for 5, 50 and 500 offerings (PostgreSQL).

Usage::

    .venv/bin/python bench/course_page.py [--repeat 20]

Prints, per size, the number of queries one request makes (it must not grow with the number of
offerings) and the median time of a request through Django's test client.
"""

import argparse
import statistics
import time
from datetime import date, timedelta

from _setup import django_with_fresh_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    django_with_fresh_database()

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from courses.models import Course
    from tests.factories import make_offering
    from tests.registrations.stripe_helpers import eligible

    setup_test_environment()
    course = Course.objects.get()
    client = Client()
    made = 0
    first = date.today() + timedelta(days=60)
    for size in (5, 50, 500):
        while made < size:
            offering = make_offering(course, first + timedelta(days=7 * made),
                                     evening=made % 2 == 1)  # fmt: skip
            eligible(offering, email=f"p{made}@psap.example.gov")
            made += 1
        client.get(course.get_absolute_url())  # warm up (connection, templates)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(course.get_absolute_url())
        assert response.status_code == 200, response.status_code
        query_count = len(queries.captured_queries)
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            client.get(course.get_absolute_url())
            times.append(time.perf_counter() - started)
        print(f"{size:>4} offerings: {query_count} queries, median "
              f"{statistics.median(times) * 1000:.1f} ms per request")  # fmt: skip


if __name__ == "__main__":
    main()
