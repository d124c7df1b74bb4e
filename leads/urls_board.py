"""Lead pages: see leads/urls.py. The board (leads/views_board.py) and the lead page
(leads/views_lead.py)."""

from django.urls import path

from . import views_board, views_lead

urlpatterns = [
    path("board/", views_board.board, name="board"),
    path("board/<str:stage>/more/", views_board.board_column, name="board-column"),
    path("board/<int:pk>/move/", views_board.board_move, name="board-move"),
    path("<int:pk>/", views_lead.lead_detail, name="detail"),
    path("<int:pk>/move/", views_lead.lead_move, name="move"),
    path("<int:pk>/activities/", views_lead.lead_activity, name="activity"),
]
