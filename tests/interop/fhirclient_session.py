"""A scripted session against `spfhir serve` with an unmodified third-party FHIR client,
SMART on FHIR's Python `fhirclient` (PyPI), so spfhir is shown to speak FHIR as others
expect: capability statement, create, read, search with paging, update, and a transaction.

    python3 tests/interop/fhirclient_session.py BASE_URL

Exits non-zero, saying which step failed, if any does.
"""
import sys

from fhirclient import client
import fhirclient.models.bundle as b
import fhirclient.models.patient as p

base = sys.argv[1].rstrip("/") + "/"
smart = client.FHIRClient(settings={"app_id": "spfhir-interop", "api_base": base})
server = smart.server

# The client reads and parses the CapabilityStatement with its own R4 models.
smart.prepare()
assert server.capabilityStatement is not None, "no capability statement"
assert server.capabilityStatement.fhirVersion == "4.0.1"

# Create 25 patients.
ids = []
for i in range(25):
    pat = p.Patient({"gender": "female", "name": [{"family": "Interop", "given": [f"Person{i}"]}]})
    created = pat.create(server)
    assert created and created.get("id"), f"create {i}: {created}"
    ids.append(created["id"])

# Read one back with the client's model.
one = p.Patient.read(ids[0], server)
assert one.name[0].family == "Interop" and one.meta.versionId == "1", one.as_json()

# Search with paging: 25 results at 10 a page, following next links.
search = p.Patient.where(struct={"family": "interop", "_count": "10"})
found = [r.id for r in search.perform_resources_iter(server)]
assert sorted(found) == sorted(ids), f"search found {len(found)} of 25"

# Update.
one.gender = "male"
one.update(server)
again = p.Patient.read(ids[0], server)
assert again.gender == "male" and again.meta.versionId == "2", again.as_json()

# A transaction, built with the client's Bundle model.
tx = b.Bundle({
    "type": "transaction",
    "entry": [
        {"fullUrl": "urn:uuid:0c1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b", "resource": {"resourceType": "Patient", "gender": "other"}, "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "Join a walking group"},
                      "subject": {"reference": "urn:uuid:0c1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"}}, "request": {"method": "POST", "url": "Goal"}},
    ],
})
response = b.Bundle(server.post_json("", tx.as_json()).json())
assert response.type == "transaction-response", response.as_json()
assert [e.response.status.split()[0] for e in response.entry] == ["201", "201"], response.as_json()
print("fhirclient session: capability statement, 25 creates, read, search over 3 pages, update, transaction: all passed")
