from django.urls import path

from . import protocol, views

prefix = protocol.PREFIX.lstrip("/")

app_name = "p2p"
urlpatterns = [
    path(f"{prefix}hello", views.hello, name="hello"),
    path(f"{prefix}peers", views.peers, name="peers"),
    path(f"{prefix}inv", views.inventory, name="inv"),
    path(f"{prefix}headers", views.headers, name="headers"),
    path(f"{prefix}blocks", views.blocks, name="blocks"),
    path(f"{prefix}blocks/<str:hash_hex>", views.block, name="block"),
    path(f"{prefix}batches", views.batches, name="batches"),
    path(f"{prefix}batches/<str:experiment>/<str:number>", views.batch, name="batch"),
    path(f"{prefix}blobs/<str:sha256>", views.blob, name="blob"),
]
