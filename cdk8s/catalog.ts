// Objects of the live catalog source (docs/CATALOGS.md): the service account of api and worker
// pods (always; its token is mounted only with catalog.source=kubernetes), and for the
// kubernetes source the ChallengeCatalog CRD, a Role with exactly the rules the pods need and an
// optional starter resource. The CRD, the rules and the resource come from app/catalog/crd.ts.
import { Construct } from 'constructs';
import type { IObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import type { ICustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { catalogRbacRules, challengeCatalogCrd, challengeCatalogResource } from '../app/catalog/crd';
import { addObject, fullname, labels, meta } from './base';
import { block, tpl } from './helm';
import { str, valuePath } from './values';
import { catalogFromKubernetes, serviceAccountName } from './workloads';

type Manifest = { apiVersion: string; kind: string; metadata?: IObjectMeta };

export class CatalogSource extends Construct {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const kube = catalogFromKubernetes();
    // Bare (unquoted) so it can sit inside names and apiVersion strings; the schema restricts it to DNS characters.
    const group = tpl(valuePath('catalog.crdGroup'));

    addObject<IServiceAccount>(
      this,
      'serviceaccount',
      { file: 'serviceaccount.yaml' },
      {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: meta('app'),
        automountServiceAccountToken: tpl<boolean>(kube),
      },
    );

    addObject<IRole>(
      this,
      'catalog-role',
      { file: 'catalog-role.yaml', when: kube },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: meta('catalog'),
        rules: catalogRbacRules(tpl(`${valuePath('catalog.crdGroup')} | quote`)),
      },
    );
    addObject<IRoleBinding>(
      this,
      'catalog-rolebinding',
      { file: 'catalog-rolebinding.yaml', when: kube },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: meta('catalog'),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: fullname('catalog') },
        subjects: [
          { kind: 'ServiceAccount', name: serviceAccountName(), namespace: tpl('.Release.Namespace') },
        ],
      },
    );

    // A template, not crds/ (which Helm never templates): the group is a value. Kept on uninstall,
    // since deleting a CRD deletes every ChallengeCatalog with it.
    const crd = challengeCatalogCrd(group) as unknown as ICustomResourceDefinition;
    addObject<ICustomResourceDefinition>(
      this,
      'catalog-crd',
      { file: 'catalog-crd.yaml', when: `and (${kube}) ${valuePath('catalog.installCrd')}` },
      {
        ...crd,
        metadata: {
          ...crd.metadata,
          labels: labels('catalog'),
          annotations: { 'helm.sh/resource-policy': 'keep' },
        },
      },
    );

    // Helm maps every release object before creating any, so a custom resource whose CRD is in
    // the same release must be a hook. post-install only: a seed, never overwritten by upgrades.
    const resource = challengeCatalogResource(
      str('catalog.resourceName'),
      block(`(fromJson ${valuePath('catalog.json')})`),
      { group },
    ) as unknown as Manifest;
    addObject<Manifest>(
      this,
      'catalog-resource',
      {
        file: 'catalog-resource.yaml',
        when: `and (${kube}) ${valuePath('catalog.createResource')}`,
      },
      {
        ...resource,
        metadata: {
          ...resource.metadata,
          labels: labels('catalog'),
          annotations: { 'helm.sh/hook': 'post-install', 'helm.sh/hook-weight': '5' },
        },
      },
    );
  }
}
