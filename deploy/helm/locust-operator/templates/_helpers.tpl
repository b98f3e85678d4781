{{/*
Object names. With the release name `locust-operator` every name equals the kustomize
install's (deploy/): `locust-operator`, `locust-operator-webhook`, ...
*/}}
{{- define "locust-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every object name, at most 40 characters so `-validating-webhook` fits. */}}
{{- define "locust-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "locust-operator.webhookServiceName" -}}
{{- include "locust-operator.fullname" . }}-webhook
{{- end -}}

{{- define "locust-operator.metricsServiceName" -}}
{{- include "locust-operator.fullname" . }}-metrics
{{- end -}}

{{/* Where the webhook certificate comes from: certManager, selfManaged or provided. */}}
{{- define "locust-operator.certMode" -}}
{{- $values := include "locust-operator.values" . | fromJson -}}
{{- $values.certificates.mode -}}
{{- end -}}

{{/* The Secret holding the webhook serving certificate (tls.crt, tls.key). */}}
{{- define "locust-operator.certSecretName" -}}
{{- $values := include "locust-operator.values" . | fromJson -}}
{{- if eq $values.certificates.mode "provided" -}}
{{- $values.certificates.provided.secretName -}}
{{- else -}}
{{- include "locust-operator.fullname" . }}-webhook-cert
{{- end -}}
{{- end -}}

{{/* The cert-manager Certificate of the webhook, for cert-manager.io/inject-ca-from. */}}
{{- define "locust-operator.certificateName" -}}
{{- include "locust-operator.fullname" . }}-webhook-cert
{{- end -}}

{{/* `annotations:` of the objects that carry the CA bundle (webhooks, CRD), if any. */}}
{{- define "locust-operator.caInjectionAnnotations" -}}
{{- if eq (include "locust-operator.certMode" .) "certManager" -}}
annotations:
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "locust-operator.certificateName" . }}
{{- end -}}
{{- end -}}

{{/* `caBundle:` of a webhook clientConfig, in provided mode. */}}
{{- define "locust-operator.caBundle" -}}
{{- $values := include "locust-operator.values" . | fromJson -}}
{{- if eq $values.certificates.mode "provided" -}}
caBundle: {{ required "certificates.provided.caBundle is required when certificates.mode is provided" $values.certificates.provided.caBundle | quote }}
{{- end -}}
{{- end -}}

{{/* Labels Helm adds to every object (the comparison with deploy/ ignores these). */}}
{{- define "locust-operator.helmLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* Labels of most objects: those of deploy/ plus Helm's. */}}
{{- define "locust-operator.labels" -}}
app.kubernetes.io/name: {{ include "locust-operator.name" . }}
app.kubernetes.io/part-of: locust-operator
{{ include "locust-operator.helmLabels" . }}
{{- end -}}

{{/* The operator pods, as selected by the Deployment, the Services and the PDB. */}}
{{- define "locust-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "locust-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "locust-operator.image" -}}
{{- $values := include "locust-operator.values" . | fromJson -}}
{{- printf "%s:%s" $values.image.repository (default .Chart.AppVersion $values.image.tag) -}}
{{- end -}}

{{/*
The operator pod's security context, and its container's: the restricted Pod Security Standard.
Also what the Go chart's podSecurityContext and containerSecurityContext must agree with.
*/}}
{{- define "locust-operator.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "locust-operator.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
The RBAC rules of the controller (deploy/base/clusterrole.yaml, which explains each): exactly
the API calls it makes in the namespaces it watches (`API_CALLS` of src/controller/mod.rs and
src/operator.rs), plus `update` on locusttests/finalizers, never requested but required by the
OwnerReferencesPermissionEnforcement admission plugin to create children whose owner reference
sets blockOwnerDeletion.
*/}}
{{- define "locust-operator.controllerRules" -}}
- apiGroups: ["locust.io"]
  resources: ["locusttests"]
  verbs: ["list", "watch"]
- apiGroups: ["locust.io"]
  resources: ["locusttests/status"]
  verbs: ["patch"]
- apiGroups: ["locust.io"]
  resources: ["locusttests/finalizers"]
  verbs: ["update"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "watch", "create"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "create"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}

{{/*
One environment variable from a list (NAME VALUE): nothing when VALUE is null (the operator's
built-in default applies), else VALUE as a string. An empty string stays "" (for a quantity it
removes that request or limit); numbers are written as integers.
*/}}
{{- define "locust-operator.envVar" -}}
{{- $name := index . 0 -}}
{{- $value := index . 1 -}}
{{- if not (kindIs "invalid" $value) }}
- name: {{ $name }}
  value: {{ if or (kindIs "float64" $value) (kindIs "int64" $value) (kindIs "int" $value) }}{{ int64 $value | toString | quote }}{{ else }}{{ toString $value | quote }}{{ end }}
{{- end }}
{{- end -}}

{{/* PREFIX{CPU,MEM,EPHEMERAL}_{REQUEST,LIMIT} from a map of cpuRequest, memRequest, ... */}}
{{- define "locust-operator.resourceEnv" -}}
{{- $prefix := index . 0 -}}
{{- $values := index . 1 | default dict -}}
{{- range $field := list (list "CPU_REQUEST" "cpuRequest") (list "MEM_REQUEST" "memRequest") (list "EPHEMERAL_REQUEST" "ephemeralRequest") (list "CPU_LIMIT" "cpuLimit") (list "MEM_LIMIT" "memLimit") (list "EPHEMERAL_LIMIT" "ephemeralLimit") }}
{{- include "locust-operator.envVar" (list (printf "%s%s" $prefix (index $field 0)) (index $values (index $field 1))) }}
{{- end }}
{{- end -}}

{{/*
The locust-pod defaults of docs/compatibility.md A7 (values `locustPods`) as the operator's environment
variables, with the names src/config.rs reads.
*/}}
{{- define "locust-operator.locustPodEnv" -}}
{{- $values := include "locust-operator.values" . | fromJson -}}
{{- $lp := $values.locustPods | default dict -}}
{{- $resources := $lp.resources | default dict -}}
{{- include "locust-operator.resourceEnv" (list "POD_" $resources) }}
{{- include "locust-operator.resourceEnv" (list "MASTER_POD_" $resources.master) }}
{{- include "locust-operator.resourceEnv" (list "WORKER_POD_" $resources.worker) }}
{{- include "locust-operator.envVar" (list "JOB_TTL_SECONDS_AFTER_FINISHED" $lp.ttlSecondsAfterFinished) }}
{{- include "locust-operator.envVar" (list "DEFAULT_RUNTIME_CLASS_NAME" $lp.runtimeClassName) }}
{{- include "locust-operator.envVar" (list "ENABLE_AFFINITY_CR_INJECTION" $lp.affinityInjection) }}
{{- include "locust-operator.envVar" (list "ENABLE_TAINT_TOLERATIONS_CR_INJECTION" $lp.tolerationsInjection) }}
{{- $exporter := $lp.metricsExporter | default dict -}}
{{- include "locust-operator.envVar" (list "METRICS_EXPORTER_IMAGE" $exporter.image) }}
{{- include "locust-operator.envVar" (list "METRICS_EXPORTER_PORT" $exporter.port) }}
{{- include "locust-operator.envVar" (list "METRICS_EXPORTER_IMAGE_PULL_POLICY" $exporter.pullPolicy) }}
{{- include "locust-operator.resourceEnv" (list "METRICS_EXPORTER_" $exporter.resources) }}
{{- $kafka := $lp.kafka | default dict -}}
{{- if $kafka.bootstrapServers }}
{{- include "locust-operator.envVar" (list "KAFKA_BOOTSTRAP_SERVERS" $kafka.bootstrapServers) }}
{{- include "locust-operator.envVar" (list "KAFKA_SECURITY_ENABLED" $kafka.securityEnabled) }}
{{- include "locust-operator.envVar" (list "KAFKA_SECURITY_PROTOCOL_CONFIG" $kafka.securityProtocol) }}
{{- include "locust-operator.envVar" (list "KAFKA_SASL_MECHANISM" $kafka.saslMechanism) }}
{{- include "locust-operator.envVar" (list "KAFKA_SASL_JAAS_CONFIG" $kafka.saslJaasConfig) }}
{{- include "locust-operator.envVar" (list "KAFKA_USERNAME" $kafka.username) }}
{{- $password := $kafka.passwordSecret | default dict -}}
{{- include "locust-operator.envVar" (list "KAFKA_PASSWORD_SECRET_NAME" $password.name) }}
{{- include "locust-operator.envVar" (list "KAFKA_PASSWORD_SECRET_KEY" $password.key) }}
{{- end }}
{{- end -}}
