import pytest

pytestmark = pytest.mark.django_db


def test_lead_factory_creates_entry_transition(lead):
    assert lead.stage == "lead"
    assert lead.transitions.count() == 1
